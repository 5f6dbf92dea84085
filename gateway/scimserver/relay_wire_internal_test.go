package scimserver

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestSealAuthorization(t *testing.T) {
	sealed, err := sealAuthorization("msg-1", "Basic Z3dhZG1pbjpwYXNzd29yZA==")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "Z3dhZG1pbjpwYXNzd29yZA") {
		t.Fatal("the credential is visible in the sealed value")
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		t.Fatal(err)
	}
	open := func(msgID string) (string, error) {
		gcm, err := authorizationAEAD(msgID)
		if err != nil {
			return "", err
		}
		n := gcm.NonceSize()
		clear, err := gcm.Open(nil, raw[:n], raw[n:], nil)
		return string(clear), err
	}
	if clear, err := open("msg-1"); err != nil || clear != "Basic Z3dhZG1pbjpwYXNzd29yZA==" {
		t.Fatalf("open with the Msg-Id: %q %v", clear, err)
	}
	if _, err := open("msg-2"); err == nil {
		t.Fatal("another Msg-Id opened the sealed authorization")
	}
}
