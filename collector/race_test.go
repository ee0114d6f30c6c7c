//go:build race

package collector

// raceEnabled: the test binary runs with the race detector.
const raceEnabled = true
