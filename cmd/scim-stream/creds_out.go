package main

import (
	"fmt"
	"io"
	"os"
)

// writeSecret writes credentials (they hold a secret seed) to path with mode 0600, or to stdout when path is
// empty. When stdout is a regular file (`creds > x.creds`), the shell created it with the umask's mode, usually
// 0644: it is narrowed to 0600, and the user is told so (or warned when that is not possible).
func writeSecret(path string, data []byte, stdout, stderr io.Writer) error {
	if path == "" {
		if f, ok := stdout.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
				if err := f.Chmod(0o600); err != nil {
					fmt.Fprintf(stderr, "warning: the credentials go to a file readable by others (mode %04o) and its mode cannot be changed: %v; use -out FILE\n", fi.Mode().Perm(), err)
				} else {
					fmt.Fprintf(stderr, "the output file's mode was %04o, now 0600: it holds a secret seed\n", fi.Mode().Perm())
				}
			}
		}
		_, err := stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("-out %s: %w", path, err)
	}
	// An existing file keeps its mode on open: narrow it before the secret is written.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("-out %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("-out %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-out %s: %w", path, err)
	}
	fmt.Fprintf(stderr, "wrote %s (mode 0600)\n", path)
	return nil
}
