//go:build !race

package testetcd

const raceEnabled = false
