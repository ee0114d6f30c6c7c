package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

// Line is how every error reaches the user: one line, "etcd-monitor
// serve: --probe.interval: …", whether kingpin found it while parsing or
// the command while checking its settings, so that scripts and people see
// one form. command is "" when the command line names none that exists.
func Line(app *kingpin.Application, command string, err error) string {
	prefix := app.Name
	if command != "" {
		prefix += " " + command
	}
	return prefix + ": " + err.Error()
}

// ParsedCommand is the command args select (the default one when they
// name none), for a parse error's Line; "" when there is none, or when the
// default command was only chosen because the first word named no command
// ("etcd-monitor chekc" is a mistyped command, not serve's error).
func ParsedCommand(app *kingpin.Application, args []string) string {
	pc, err := app.ParseContext(args)
	if pc != nil && pc.SelectedCommand != nil {
		name := pc.SelectedCommand.FullCommand()
		if err != nil && strings.HasPrefix(err.Error(), "unexpected ") && !slices.Contains(args, strings.Fields(name)[0]) {
			return ""
		}
		return name
	}
	if err == nil || pc != nil {
		for _, c := range app.Model().Commands {
			if c.Default {
				return c.Name
			}
		}
	}
	return ""
}

// NameParseError makes kingpin's parse errors name the flag. Kingpin
// reports a bad value as the value type's own error ("time: invalid duration
// \"soon\""), which leaves the user guessing which flag it was. The process is
// about to exit, so setting values again to find the culprit is harmless.
func NameParseError(app *kingpin.Application, args []string, err error) error {
	pc, perr := app.ParseContext(args)
	if perr != nil || pc == nil {
		return err
	}
	for _, el := range pc.Elements {
		fc, ok := el.Clause.(*kingpin.FlagClause)
		if !ok || el.Value == nil {
			continue
		}
		m := fc.Model()
		if serr := m.Value.Set(*el.Value); serr != nil && serr.Error() == err.Error() {
			if strings.HasPrefix(err.Error(), "--"+m.Name+": ") {
				return err // the value named its flag itself
			}
			return fmt.Errorf("--%s: %w", m.Name, err)
		}
	}
	// Values from environment variables.
	for _, f := range allFlags(app, pc) {
		m := f.Model()
		if v := m.Envar; v != "" && f.HasEnvarValue() {
			if serr := m.Value.Set(f.GetEnvarValue()); serr != nil && serr.Error() == err.Error() {
				msg := strings.TrimPrefix(err.Error(), "--"+m.Name+": ")
				return fmt.Errorf("--%s (from $%s): %s", m.Name, v, msg)
			}
		}
	}
	return err
}

func allFlags(app *kingpin.Application, pc *kingpin.ParseContext) []*kingpin.FlagClause {
	var out []*kingpin.FlagClause
	seen := map[string]bool{}
	add := func(fs []*kingpin.FlagModel) {
		for _, m := range fs {
			if seen[m.Name] {
				continue
			}
			seen[m.Name] = true
			if fc := app.GetFlag(m.Name); fc != nil {
				out = append(out, fc)
			}
		}
	}
	add(app.Model().Flags)
	if pc.SelectedCommand != nil {
		cm := pc.SelectedCommand.Model()
		for _, m := range cm.Flags {
			if seen[m.Name] {
				continue
			}
			seen[m.Name] = true
			if fc := pc.SelectedCommand.GetFlag(m.Name); fc != nil {
				out = append(out, fc)
			}
		}
	}
	return out
}
