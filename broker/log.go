package broker

import (
	"fmt"
	"log/slog"
	"sync/atomic"
)

// serverLog adapts nats-server's logger to slog. Permission violations come through Errorf with the connection's
// account and user ("…/jwt:U…") in the prefix, which is how an operator sees why a subscriber's request timed out.
type serverLog struct {
	l     *slog.Logger
	fatal *atomic.Pointer[string]
}

func (s serverLog) Noticef(format string, v ...any) { s.l.Info(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(format string, v ...any) {
	s.l.Debug(fmt.Sprintf(format, v...), "trace", true)
}

// Fatalf is called by the server for start-up failures (port in use). The embedded server must not exit the
// process: the message is kept and Start returns it as its error.
func (s serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.l.Error(msg)
	s.fatal.CompareAndSwap(nil, &msg)
}
