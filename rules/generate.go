package rules

// The committed rule files are this package's output for DefaultConfig.
// TestGeneratedFilesUpToDate fails when they differ from a fresh render;
// this rewrites them.
//
//go:generate go test -run ^TestGeneratedFilesUpToDate$ -update .
