package hr

import (
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/config"
)

// idPath finds the record id by the documented rule that the hr mapper must map userName: when userName's
// source is a plain attribute path (personIdExternal, a.b.[0].c), the value at that path is the person id. A
// computed userName (a function) gives no id; the pipeline then keys the person by the mapped userName alone.
func idPath(m config.Mapper) []string {
	for _, e := range m.User {
		if e.MapTo != "userName" {
			continue
		}
		src := strings.TrimSpace(e.Source)
		if src == "" || strings.ContainsAny(src, `()"{} ,`) {
			return nil
		}
		var steps []string
		for _, seg := range strings.Split(strings.ReplaceAll(src, "[", ".["), ".") {
			if seg != "" {
				steps = append(steps, seg)
			}
		}
		return steps
	}
	return nil
}

// lookupID reads the id at path; numbers are formatted without exponent, anything else gives "".
func lookupID(obj map[string]any, path []string) string {
	if len(path) == 0 {
		return ""
	}
	var cur any = obj
	for _, step := range path {
		if strings.HasPrefix(step, "[") && strings.HasSuffix(step, "]") {
			n, err := strconv.Atoi(step[1 : len(step)-1])
			arr, ok := cur.([]any)
			if err != nil || !ok || n < 0 || n >= len(arr) {
				return ""
			}
			cur = arr[n]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[step]
	}
	switch v := cur.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}
