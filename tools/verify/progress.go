package verify

import (
	"log/slog"
	"time"
)

// LogProgress returns a function for Options.Progress that reports each
// Status on logger at info level; a nil logger gives a nil function, which
// reports nothing.
func LogProgress(logger *slog.Logger) func(Status) {
	if logger == nil {
		return nil
	}
	return func(s Status) {
		attrs := []any{
			"wanted", short(s.Wanted),
			"live", short(s.Live),
			"live_for", s.LiveFor.Round(time.Second),
			"in_a_row", s.Streak,
			"elapsed", s.Elapsed.Round(time.Second),
			"polls", s.Polls,
		}
		if s.Err != nil {
			attrs = append(attrs, "error", s.Err)
		}
		logger.Info("waiting for commit to go live", attrs...)
	}
}
