package config

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
)

// LogFileName is the log file under <dir>/logs.
const LogFileName = "scim-stream.log"

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// NewLogger builds the process logger from the log section: stdout when console is true, else a rotating file
// <dir>/logs/scim-stream.log (dir is the working directory, as the documentation's ./logs). Every registered
// secret is masked in messages and attributes. Close the returned Closer on exit to flush the file.
func NewLogger(cfg Log, dir string) (*slog.Logger, io.Closer, error) {
	if cfg.Level == "disabled" {
		return slog.New(slog.DiscardHandler), nopCloser{}, nil
	}
	var w io.Writer = os.Stdout
	var c io.Closer = nopCloser{}
	if !cfg.Console {
		logs := filepath.Join(dir, "logs")
		if err := os.MkdirAll(logs, 0o700); err != nil {
			return nil, nil, fmt.Errorf("log: creating %s: %w", logs, err)
		}
		lj := &lumberjack.Logger{
			Filename:   filepath.Join(logs, LogFileName),
			MaxSize:    cfg.MaxSize,
			MaxBackups: cfg.MaxBackups,
			MaxAge:     cfg.MaxAge,
		}
		w, c = lj, lj
	}
	return NewFormatLogger(w, cfg.Level, cfg.Format), c, nil
}

// NewWriterLogger is a masked text logger on w at level (debug, info, warn, error, disabled).
func NewWriterLogger(w io.Writer, level string) *slog.Logger {
	return NewFormatLogger(w, level, "text")
}

// NewFormatLogger is a masked logger on w at level, writing format "text" (key=value) or "json" (one object per
// line, for log shippers); anything else means text (validation rejects it).
func NewFormatLogger(w io.Writer, level, format string) *slog.Logger {
	if level == "disabled" {
		return slog.New(slog.DiscardHandler)
	}
	o := &slog.HandlerOptions{Level: ParseLevel(level)}
	if format == "json" {
		return slog.New(MaskingHandler(slog.NewJSONHandler(w, o)))
	}
	return slog.New(MaskingHandler(slog.NewTextHandler(w, o)))
}

// ParseLevel maps the log.level values to slog levels (unknown values mean info; validation rejects them).
func ParseLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// MaskingHandler wraps h so that registered secrets never reach it, whether they come in the message, an
// attribute, a group or an error's text.
func MaskingHandler(h slog.Handler) slog.Handler { return maskHandler{h} }

type maskHandler struct{ inner slog.Handler }

func (m maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return m.inner.Enabled(ctx, l) }

func (m maskHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, MaskSecrets(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return m.inner.Handle(ctx, out)
}

func (m maskHandler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return maskHandler{m.inner.WithAttrs(masked)}
}

func (m maskHandler) WithGroup(name string) slog.Handler { return maskHandler{m.inner.WithGroup(name)} }

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, MaskSecrets(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = maskAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case []byte:
			s = string(x)
		case encoding.TextMarshaler:
			b, err := x.MarshalText()
			if err != nil {
				return slog.String(a.Key, "!"+err.Error())
			}
			s = string(b)
		case fmt.Stringer:
			s = x.String()
		default:
			s = fmt.Sprintf("%+v", x)
		}
		if ms := MaskSecrets(s); ms != s {
			return slog.String(a.Key, ms)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
