//go:build race

package testetcd

// raceEnabled: this test binary runs under the race detector, which
// instruments in-process etcd servers as well and makes them several times
// slower.
const raceEnabled = true
