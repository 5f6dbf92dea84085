package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestLogFormatAndWarnLevel: log.format is text (default) or json, anything else is an error naming the key and
// its line; warn is a level; a json logger writes one JSON object per line with secrets masked.
func TestLogFormatAndWarnLevel(t *testing.T) {
	c, err := Check(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "text" {
		t.Errorf("log.format default %q, want text", c.Log.Format)
	}
	c, err = Check(writeConfig(t, "log:\n  level: warn\n  format: json\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "json" || c.Log.Level != "warn" {
		t.Errorf("log = %+v", c.Log)
	}
	l := mustErrors(t, writeConfig(t, "log:\n  format: xml\n"))
	if len(l) != 1 || l[0].Path != "log.format" || l[0].Line != 2 || !strings.Contains(l[0].Msg, "text or json") {
		t.Errorf("errors %v, want one at log.format line 2 naming text or json", l)
	}

	RegisterSecret("s3cr3t-value-for-log-test")
	var buf bytes.Buffer
	log := NewFormatLogger(&buf, "warn", "json")
	log.Info("not shown at warn")
	log.Warn("shown", "password", "s3cr3t-value-for-log-test")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line at level warn, got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "shown" || strings.Contains(lines[0], "s3cr3t") {
		t.Errorf("record %v", rec)
	}
}
