package dashboards

// The committed dashboard files are this package's output.
// TestGeneratedFilesUpToDate fails when they differ from a fresh render;
// this rewrites them.
//
//go:generate go test -run ^TestGeneratedFilesUpToDate$ -update .
