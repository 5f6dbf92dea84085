package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scalarEdit replaces the text of one single-line scalar value in the file.
type scalarEdit struct {
	node *yaml.Node
	path string
	text string // the new YAML text of the value, already quoted as needed
	// afterKey is set for an empty value (`key:` with nothing after it): the text goes after the key's colon.
	afterKey *yaml.Node
}

// applyScalarEdits rewrites only the bytes of the edited scalars, so comments, order, indentation and quoting of
// everything else stay exactly as the operator wrote them.
func applyScalarEdits(data []byte, edits []scalarEdit) ([]byte, error) {
	type span struct {
		start, end int
		text       string
	}
	lineStarts := []int{0}
	for i, b := range data {
		if b == '\n' {
			lineStarts = append(lineStarts, i+1)
		}
	}
	spans := make([]span, 0, len(edits))
	for _, e := range edits {
		n := e.node
		if e.afterKey != nil {
			n = e.afterKey
		}
		if n.Line < 1 || n.Line > len(lineStarts) {
			return nil, fmt.Errorf("%s: value not found in the file", e.path)
		}
		off := lineStarts[n.Line-1]
		for c := 1; c < n.Column; c++ { // Column counts characters, not bytes
			if off >= len(data) {
				return nil, fmt.Errorf("%s: value not found in the file", e.path)
			}
			_, w := utf8.DecodeRune(data[off:])
			off += w
		}
		end, err := scalarEnd(data, off, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.path, err)
		}
		if e.afterKey != nil {
			colon := bytes.IndexByte(data[end:], ':')
			if colon < 0 || bytes.IndexByte(data[end:end+colon], '\n') >= 0 {
				return nil, fmt.Errorf("%s: value not found in the file", e.path)
			}
			end += colon + 1
			spans = append(spans, span{end, end, " " + e.text})
			continue
		}
		spans = append(spans, span{off, end, e.text})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start > spans[j].start })
	out := append([]byte(nil), data...)
	for _, s := range spans {
		out = append(out[:s.start], append([]byte(s.text), out[s.end:]...)...)
	}
	return out, nil
}

// scalarEnd finds where the scalar starting at off ends.
func scalarEnd(data []byte, off int, n *yaml.Node) (int, error) {
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, fmt.Errorf("multi-line (| or >) values cannot be rewritten in place: put the value on one line")
	case n.Style&yaml.DoubleQuotedStyle != 0:
		for i := off + 1; i < len(data); i++ {
			switch data[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			case '\n':
				return 0, fmt.Errorf("multi-line quoted values cannot be rewritten in place: put the value on one line")
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		for i := off + 1; i < len(data); i++ {
			switch data[i] {
			case '\'':
				if i+1 < len(data) && data[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			case '\n':
				return 0, fmt.Errorf("multi-line quoted values cannot be rewritten in place: put the value on one line")
			}
		}
	default:
		if n.Tag == "!!null" && n.Value == "" { // `key:` with nothing after it
			return off, nil
		}
		if bytes.HasPrefix(data[off:], []byte(n.Value)) {
			return off + len(n.Value), nil
		}
		return 0, fmt.Errorf("multi-line values cannot be rewritten in place: put the value on one line")
	}
	return 0, fmt.Errorf("unterminated quoted value")
}

// writeFileAtomic replaces path with data through a temporary file in the same directory, keeping the mode.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
