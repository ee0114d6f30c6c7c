// Package faultschedule holds the fault-schedule test of the monitor: a
// seeded random sequence of real faults (kill, SIGSTOP/SIGCONT, restart,
// client and peer blackholes and delays, member removal and addition,
// NOSPACE, auth turned on, quorum loss) on a real 5-member etcd cluster,
// with an oracle that knows the truth after every step and holds the
// monitor's snapshots to it. See schedule_test.go; `make soak` runs the long
// version.
package faultschedule
