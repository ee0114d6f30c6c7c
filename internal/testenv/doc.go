// Package testenv holds nothing itself: its sub-packages are the helpers the
// tests share (real etcd clusters, sinks for Alertmanager's notifications, a
// test PKI, the pinned tools, free ports, processes). No product package
// imports them, so `go list ./internal/...` shows the product apart from its
// test helpers.
package testenv
