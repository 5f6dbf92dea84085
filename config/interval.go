package config

import (
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MinCollectInterval is the documented minimum (and default) collect interval.
const MinCollectInterval = 5

// CollectInterval is general.collect_interval: either a number of seconds or a 5-field crontab expression
// (<min> <hour> <day> <month> <weekday>).
type CollectInterval struct {
	Seconds int
	Cron    string
	// Raw is the text as written, for messages.
	Raw string
}

// IsCron reports whether the interval is a crontab expression (use Cron) rather than seconds (use Every).
func (c CollectInterval) IsCron() bool { return c.Cron != "" }

// Every is the interval in seconds as a duration (zero for a crontab expression).
func (c CollectInterval) Every() time.Duration { return time.Duration(c.Seconds) * time.Second }

func (c CollectInterval) String() string {
	if c.IsCron() {
		return c.Cron
	}
	return strconv.Itoa(c.Seconds)
}

// UnmarshalYAML accepts an integer (also quoted) or a crontab expression; validation checks the values.
func (c *CollectInterval) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{"must be a number of seconds or a crontab expression"}}
	}
	v := strings.TrimSpace(n.Value)
	c.Raw = v
	if i, err := strconv.Atoi(v); err == nil {
		c.Seconds, c.Cron = i, ""
		return nil
	}
	c.Seconds, c.Cron = 0, v
	return nil
}

// MarshalYAML writes the interval back as written.
func (c CollectInterval) MarshalYAML() (any, error) {
	if c.IsCron() {
		return c.Cron, nil
	}
	return c.Seconds, nil
}
