package collector

import (
	"errors"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/wire"
)

// CheckConfig compiles every tenant of a loaded configuration as a collector would (Compile), offline, and
// returns each problem as a *config.Error: file:line: key: problem. It has the signature of the check command's
// steps.
func CheckConfig(cfgPath string, c *config.Config) []error {
	var out []error
	for k, t := range c.Tenants() {
		if t == nil {
			continue
		}
		typ, _ := wire.ParseType(k.Kind) // a configuration section: entra or hr
		_, err := Compile(k.Name, typ, t)
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) {
			continue
		}
		for _, e := range joined.Unwrap() {
			var ke *KeyError
			if !errors.As(e, &ke) {
				out = append(out, &config.Error{File: cfgPath, Path: k.String(), Msg: e.Error()})
				continue
			}
			switch ke.part {
			case partMapper:
				out = append(out, mapper.ConfigErrors(cfgPath, ke.Key, ke.Err)...)
			case partFilter:
				for _, e := range rules.ConfigErrors(cfgPath, ke.Key, ke.Err) {
					if ce, ok := e.(*config.Error); ok && ce.Line == 0 {
						ce.Line = config.KeyLine(cfgPath, k.Kind, k.Name, "general", "do_initial_load_filter")
					}
					out = append(out, e)
				}
			default:
				out = append(out, rules.ConfigErrors(cfgPath, ke.Key, ke.Err)...)
			}
		}
	}
	return out
}
