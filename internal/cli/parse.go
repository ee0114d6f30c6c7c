package cli

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

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
