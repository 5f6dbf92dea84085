package main

import (
	"slices"
	"strings"
)

// listFlag is a list flag that may be repeated and comma-separated alike (-hr acme -hr initech = -hr
// acme,initech): a repeated flag.String would keep only the last value and silently drop the others.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range splitList(v) {
		if !slices.Contains(*l, p) {
			*l = append(*l, p)
		}
	}
	return nil
}
