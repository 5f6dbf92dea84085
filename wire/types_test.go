package wire

import "testing"

func TestDurableNameFollowsTheNodeRule(t *testing.T) {
	for _, c := range []struct{ plugin, entity, want string }{
		{"plugin-loki", "undefined", "durable_plugin-loki_undefined"},
		{"plugin-ldap", "company.one", "durable_plugin-ldap_company_one"},
		{"plugin.x", "a*b>c", "durable_plugin_x_a#b##c"},
	} {
		if got := DurableName(c.plugin, c.entity); got != c.want {
			t.Errorf("DurableName(%q, %q) = %q, want %q", c.plugin, c.entity, got, c.want)
		}
	}
}

// Subject and TypeOf are inverse for every type; filters and foreign subjects are told apart.
func TestSubjectAndTypeOf(t *testing.T) {
	for _, typ := range Types {
		s := Subject(typ, "APP1")
		if s != string(typ)+".APP1" {
			t.Errorf("Subject(%s, APP1) = %q", typ, s)
		}
		if got, ok := TypeOf(s); !ok || got != typ {
			t.Errorf("TypeOf(%q) = %q, %v; want %q", s, got, ok, typ)
		}
	}
	for subject, want := range map[string]Type{"ENTRA.AD.*": Entra, "HR.>": HR, "GW.APPX": GW, "HR": HR} {
		if got, ok := TypeOf(subject); !ok || got != want {
			t.Errorf("TypeOf(%q) = %q, %v; want %q", subject, got, ok, want)
		}
	}
	for _, subject := range []string{"", "entra.APP1", "HRX.SF", "STATE.x", ">"} {
		if got, ok := TypeOf(subject); ok {
			t.Errorf("TypeOf(%q) = %q, want no type", subject, got)
		}
	}
}

func TestParseTypeAndKey(t *testing.T) {
	for in, want := range map[string]Type{"entra": Entra, " HR ": HR, "Gw": GW} {
		got, err := ParseType(in)
		if err != nil || got != want {
			t.Errorf("ParseType(%q) = %q, %v; want %q", in, got, err, want)
		}
		if got.Key() != map[Type]string{Entra: "entra", HR: "hr", GW: "gw"}[want] {
			t.Errorf("%s.Key() = %q", got, got.Key())
		}
	}
	if _, err := ParseType("state"); err == nil {
		t.Error("ParseType(state): no error")
	}
}
