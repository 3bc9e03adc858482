// Package logging is the logging of every inferscale binary: the same flags (--log-level,
// --log-format) on all four, a zap logger behind go-logr through zapr.
package logging

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Formats of --log-format.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// MaxVerbosity is the largest numeric --log-level: logr's V(n) levels beyond it are not used.
const MaxVerbosity = 10

// Options are the logging flags.
type Options struct {
	// Level is "error" (errors only), "info" (V(0)), "debug" (V(1)) or a verbosity 0..10:
	// messages logged at V(n) for n up to it.
	Level string
	// Format is json (one object per line) or console (readable text).
	Format string
}

// Defaults are the servers' options: info, json.
func Defaults() Options { return Options{Level: "info", Format: FormatJSON} }

// BindFlags registers --log-level and --log-format on fs with o's values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", o.Level, "log verbosity: error, info, debug, or a number 0..10 (messages at that V-level and below)")
	fs.StringVar(&o.Format, "log-format", o.Format, "log format: json or console")
}

// Validate says which setting is invalid, naming its flag.
func (o Options) Validate() error {
	if err := CheckLevel(o.Level); err != nil {
		return fmt.Errorf("--log-level %q: %w", o.Level, err)
	}
	if err := CheckFormat(o.Format); err != nil {
		return fmt.Errorf("--log-format %q: %w", o.Format, err)
	}
	return nil
}

// CheckLevel says why s is not a --log-level.
func CheckLevel(s string) error {
	_, err := parseLevel(s)
	return err
}

// CheckFormat says why s is not a --log-format.
func CheckFormat(s string) error {
	if s != FormatJSON && s != FormatConsole {
		return fmt.Errorf("want %s or %s", FormatJSON, FormatConsole)
	}
	return nil
}

func parseLevel(s string) (zapcore.Level, error) {
	switch s {
	case "error":
		return zapcore.ErrorLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxVerbosity {
		return 0, fmt.Errorf("want error, info, debug or 0..%d", MaxVerbosity)
	}
	// zapr logs V(n) at zap level -n.
	return zapcore.Level(-n), nil
}

// New returns a logger writing to w as o says, and a function that flushes it.
func (o Options) New(w io.Writer) (logr.Logger, func(), error) {
	if err := o.Validate(); err != nil {
		return logr.Discard(), func() {}, err
	}
	level, _ := parseLevel(o.Level)
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	var encoder zapcore.Encoder
	if o.Format == FormatConsole {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	sink := zapcore.AddSync(w)
	zl := zap.New(zapcore.NewCore(encoder, sink, level), zap.ErrorOutput(sink), zap.AddCaller(), zap.AddStacktrace(zapcore.PanicLevel))
	return zapr.NewLogger(zl), func() { _ = zl.Sync() }, nil
}
