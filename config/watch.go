package config

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce groups the burst of events an editor's save produces.
const DefaultDebounce = 300 * time.Millisecond

// Watch reloads the configuration at path (with Load, so new clear-text secrets get encrypted) whenever the file
// or the vault file changes, and calls onConfig with each new valid snapshot that differs from the previous one,
// or onError with the problems of an invalid one; the caller keeps running on its previous snapshot then. The
// directory is watched rather than the file, because editors save by replacing the file. Watch returns when ctx
// is done (nil) or the watcher cannot start.
func Watch(ctx context.Context, path string, debounce time.Duration, onConfig func(*Config), onError func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config: watching %s: %w", path, err)
	}
	defer w.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config: watching %s: %w", path, err)
	}
	names := map[string]bool{abs: true}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("config: watching %s: %w", filepath.Dir(abs), err)
	}
	if vf := vaultFileName(); vf != "" {
		if va, err := filepath.Abs(vf); err == nil {
			names[va] = true
			if filepath.Dir(va) != filepath.Dir(abs) {
				// A missing vault directory is reported by Load; watching it is best effort.
				_ = w.Add(filepath.Dir(va))
			}
		}
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last *Config
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if evAbs, err := filepath.Abs(ev.Name); err == nil && names[evAbs] {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			onError(fmt.Errorf("config: watching %s: %w", path, err))
		case <-timer.C:
			cfg, err := Load(path)
			if err != nil {
				onError(err)
				continue
			}
			if last != nil && reflect.DeepEqual(last, cfg) {
				continue // e.g. our own rewrite that encrypted a secret
			}
			last = cfg
			onConfig(cfg)
		}
	}
}

// vaultFileName is the file named by SCIM-STREAM_VAULTFILE / SCIM_STREAM_VAULTFILE, if any.
func vaultFileName() string {
	for _, kv := range environ() {
		name, value, _ := strings.Cut(kv, "=")
		if rest, ok := cutPrefix(name); ok && strings.EqualFold(rest, "VAULTFILE") {
			return value
		}
	}
	return ""
}
