package cli

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
)

// Command is a subcommand registered on the kingpin application. Each package
// that provides a subcommand exposes a Register function returning one, so
// main.go only wires: it parses, finds the selected Command and calls Run.
type Command struct {
	Clause *kingpin.CmdClause
	// Run executes the command after flags are parsed. Returning a
	// UsageError exits 2 with its one-line message; an ExitError exits with
	// its code; any other error exits 1.
	Run func(ctx context.Context, logger *slog.Logger) error
}
