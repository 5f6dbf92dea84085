package mapper

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// function is a built-in. Names are case-sensitive, as documented. A missing argument (a source attribute or
// [SCIM attribute] without a value) makes the result missing and the mapping sets nothing.
type function struct {
	name    string
	min     int
	max     int // -1: any number
	example string
	eval    func(c *evalCtx, args []any) (any, error)
}

var functions map[string]*function

func init() {
	functions = map[string]*function{}
	for _, f := range []*function{
		{name: "LowerCase", min: 1, max: 1, example: "LowerCase(mail)", eval: textFn(strings.ToLower)},
		{name: "UpperCase", min: 1, max: 1, example: "UpperCase(country)", eval: textFn(strings.ToUpper)},
		{name: "Normalize", min: 1, max: 1, example: "Normalize([name.familyName])", eval: textFn(Normalize)},
		{name: "Join", min: 1, max: -1, example: `Join([name.givenName], " ", [name.familyName])`, eval: joinFn},
		{name: "Replace", min: 3, max: 3, example: `Replace([name.givenName], " ", ".")`, eval: replaceFn},
		{name: "FirstN", min: 2, max: 2, example: "FirstN([name.familyName], 3)", eval: firstNFn},
		{name: "ElementNumber", min: 3, max: 3, example: `ElementNumber(mail, "@", 2)`, eval: elementNumberFn},
		{name: "Increment", min: 2, max: 2, example: `Increment("01", false)`},
		{name: "GetUniqueValue", min: 1, max: 1, example: `GetUniqueValue(Join(LowerCase([name.givenName]), Increment("01", false), "@mycompany.com"))`},
	} {
		functions[f.name] = f
	}
}

// check validates arity and the arguments that must be literals, at compile time.
func (f *function) check(c *call) error {
	n := len(c.args)
	if n < f.min || f.max >= 0 && n > f.max {
		want := fmt.Sprintf("%d", f.min)
		switch {
		case f.max < 0:
			want = fmt.Sprintf("at least %d", f.min)
		case f.max != f.min:
			want = fmt.Sprintf("%d to %d", f.min, f.max)
		}
		return &syntaxError{c.off, fmt.Sprintf("%s takes %s argument(s), got %d; e.g. %s", f.name, want, n, f.example)}
	}
	switch f.name {
	case "Increment":
		start, ok := c.args[0].(literal)
		s, isText := start.v.(string)
		if !ok || !isText || s == "" || strings.Trim(s, "0123456789") != "" {
			return &syntaxError{c.off, `Increment's first argument must be a number written as the first suffix, e.g. Increment("01", false) gives 01, 02, …`}
		}
		if _, err := strconv.Atoi(s); err != nil {
			return &syntaxError{c.off, fmt.Sprintf("Increment start %q is too large", s)}
		}
		flag, ok := c.args[1].(literal)
		if _, isBool := flag.v.(bool); !ok || !isBool {
			return &syntaxError{c.off, "Increment's second argument must be true (use the number on the first try) or false (first try without a number)"}
		}
	case "GetUniqueValue":
		var nested bool
		walk(c.args[0], func(n node) {
			if cc, ok := n.(*call); ok && cc.fn.name == "GetUniqueValue" {
				nested = true
			}
		})
		if nested {
			return &syntaxError{c.off, "GetUniqueValue cannot contain another GetUniqueValue"}
		}
	case "FirstN", "ElementNumber":
		last := c.args[len(c.args)-1]
		if l, ok := last.(literal); ok {
			s, _ := l.v.(string)
			if n, err := strconv.Atoi(s); err != nil || n < 0 {
				return &syntaxError{c.off, fmt.Sprintf("%s's last argument must be a whole number, e.g. %s", f.name, f.example)}
			}
		}
	}
	return nil
}

func (c *call) eval(ec *evalCtx) (any, error) {
	switch c.fn.name {
	case "GetUniqueValue":
		return ec.unique(c)
	case "Increment":
		return increment(c, ec.attempt), nil
	}
	args := make([]any, len(c.args))
	for i, a := range c.args {
		v, err := a.eval(ec)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, nil // a missing argument: nothing to map
		}
		args[i] = v
	}
	v, err := c.fn.eval(ec, args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.fn.name, err)
	}
	return v, nil
}

// increment is the suffix for a GetUniqueValue attempt: with includeOnFirst false the first attempt has no
// suffix and the second uses start; with true the first attempt uses start. The width of start is kept (01, 02).
func increment(c *call, attempt int) any {
	s := c.args[0].(literal).v.(string)
	on := c.args[1].(literal).v.(bool)
	n := attempt
	if !on {
		if attempt == 0 {
			return ""
		}
		n--
	}
	start, _ := strconv.Atoi(s)
	return fmt.Sprintf("%0*d", len(s), start+n)
}

func textFn(f func(string) string) func(*evalCtx, []any) (any, error) {
	return func(_ *evalCtx, args []any) (any, error) {
		s, err := toText(args[0])
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func joinFn(_ *evalCtx, args []any) (any, error) {
	var b strings.Builder
	for i, a := range args {
		s, err := toText(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func replaceFn(_ *evalCtx, args []any) (any, error) {
	var s [3]string
	for i := range s {
		t, err := toText(args[i])
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		s[i] = t
	}
	if s[1] == "" {
		return s[0], nil
	}
	return strings.ReplaceAll(s[0], s[1], s[2]), nil
}

func firstNFn(_ *evalCtx, args []any) (any, error) {
	s, err := toText(args[0])
	if err != nil {
		return nil, err
	}
	n, err := toCount(args[1])
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(s) <= n {
		return s, nil
	}
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i], nil
}

// elementNumberFn returns the n-th (1-based) element of s split by separator; missing when there is none.
func elementNumberFn(_ *evalCtx, args []any) (any, error) {
	s, err := toText(args[0])
	if err != nil {
		return nil, err
	}
	sep, err := toText(args[1])
	if err != nil {
		return nil, err
	}
	n, err := toCount(args[2])
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("element number %d: elements count from 1", n)
	}
	if sep == "" {
		return nil, fmt.Errorf("the separator is empty")
	}
	parts := strings.Split(s, sep)
	if n > len(parts) {
		return nil, nil
	}
	return parts[n-1], nil
}

// toText turns a scalar into text: numbers without exponent or trailing zeros, booleans as true/false.
// Arrays and objects are an error: the source attribute has a different shape than the mapping expects.
func toText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String(), nil
	}
	return "", fmt.Errorf("expected text, got a %s", kindOf(v))
}

// text is toText for comparisons: "" for what is not a scalar.
func text(v any) string {
	s, _ := toText(v)
	return s
}

func toCount(v any) (int, error) {
	s, err := toText(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("expected a whole number, got %q", s)
	}
	return n, nil
}

func (l literal) eval(*evalCtx) (any, error) { return l.v, nil }

func (s sourceRef) eval(c *evalCtx) (any, error) { return s.path.resolve(c, c.raw) }

func (r scimRef) eval(c *evalCtx) (any, error) {
	v, ok := c.user.GetPath(r.path)
	if !ok {
		return nil, nil
	}
	return v, nil
}
