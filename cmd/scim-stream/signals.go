package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/scim-stream/scim-stream/config"
)

// hangups delivers SIGHUP (nats-server's convention: reload the configuration; here also reopen the log file, so
// that logrotate's rename-and-signal works). Without it SIGHUP would end the process with status 129.
func hangups() <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch
}

// onHangup reopens the log file and reloads the configuration at each signal until ctx ends.
func onHangup(ctx context.Context, hup <-chan os.Signal, log *slog.Logger, logFile io.Closer, w *config.Watcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			// Closing the rotating file makes its next write open the file by name again: a file renamed away by
			// logrotate is left alone and a new one started.
			if err := logFile.Close(); err != nil {
				log.Error("SIGHUP: closing the log file failed", "error", err)
			}
			log.Info("SIGHUP: log file reopened; reloading the configuration")
			w.Reload()
		}
	}
}

// fatalOnStderr prints a start-up failure on stderr, with the log file that has the details when the log goes to a
// file (logFile != ""): an operator starting the process sees why it stopped without knowing where the log is.
func fatalOnStderr(stderr io.Writer, err error, logFile string) {
	fmt.Fprintf(stderr, "scim-stream: start-up failed: %s\n", config.MaskSecrets(err.Error()))
	if logFile != "" {
		fmt.Fprintf(stderr, "(the log file %s has the details)\n", logFile)
	}
}
