package depsync

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/beevik/etree"
	_ "github.com/dlclark/regexp2"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-ldap/ldap/v3"
	_ "github.com/nats-io/jwt/v2"
	_ "github.com/nats-io/nats-server/v2/server"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/nats-io/nkeys"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/robfig/cron/v3"
	_ "github.com/russellhaering/goxmldsig"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/text/transform"
	_ "golang.org/x/text/unicode/norm"
	_ "gopkg.in/natefinch/lumberjack.v2"
	_ "gopkg.in/yaml.v3"
)
