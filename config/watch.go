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

// Watcher watches a configuration file; NewWatcher starts watching at once, so that a change made between
// NewWatcher and Run (or during the first Load) is not missed.
type Watcher struct {
	path  string
	fw    *fsnotify.Watcher
	names map[string]bool // absolute names of the config and vault files
	// kick asks Run to reload now (SIGHUP), even if no change was seen.
	kick chan struct{}
}

// NewWatcher watches the directory of path (editors save by replacing the file) and that of the vault file.
func NewWatcher(path string) (*Watcher, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: watching %s: %w", path, err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("config: watching %s: %w", path, err)
	}
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		fw.Close()
		return nil, fmt.Errorf("config: watching %s: %w", filepath.Dir(abs), err)
	}
	w := &Watcher{path: path, fw: fw, names: map[string]bool{abs: true}, kick: make(chan struct{}, 1)}
	if vf := vaultFileName(); vf != "" {
		if va, err := filepath.Abs(vf); err == nil {
			w.names[va] = true
			if filepath.Dir(va) != filepath.Dir(abs) {
				// A missing vault directory is reported by Load; watching it is best effort.
				_ = fw.Add(filepath.Dir(va))
			}
		}
	}
	return w, nil
}

// Reload makes Run load the file now, as if it had changed (SIGHUP: a change on a file system without change
// notifications, e.g. some network or container mounts, takes effect at once).
func (w *Watcher) Reload() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Close stops watching (Run closes the watcher itself when it returns).
func (w *Watcher) Close() error { return w.fw.Close() }

// Run reloads the configuration (with Load, so new clear-text secrets get encrypted) whenever the file or the
// vault file changes, debounced, and calls onConfig with each new valid snapshot that differs from the previous
// one (at first: from what the last Load of this file in this process returned), or onError with the problems of
// an invalid one: the caller keeps running on its previous snapshot then. Run returns nil when ctx is done.
func (w *Watcher) Run(ctx context.Context, debounce time.Duration, onConfig func(*Config), onError func(error)) error {
	defer w.fw.Close()
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	last := lastLoaded(w.path)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if evAbs, err := filepath.Abs(ev.Name); err == nil && w.names[evAbs] {
				timer.Reset(debounce)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			onError(fmt.Errorf("config: watching %s: %w", w.path, err))
		case <-w.kick:
			timer.Reset(0)
		case <-timer.C:
			cfg, err := Load(w.path)
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

// Watch is NewWatcher followed by Run.
func Watch(ctx context.Context, path string, debounce time.Duration, onConfig func(*Config), onError func(error)) error {
	w, err := NewWatcher(path)
	if err != nil {
		return err
	}
	return w.Run(ctx, debounce, onConfig, onError)
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
