// Package httpget is the one way tests GET what a server under test serves:
// with a deadline, a bounded body, and the transport error failing the test
// rather than being mistaken for an empty answer.
package httpget

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// maxBody bounds what a test reads; a fleet's /metrics is the largest answer.
const maxBody = 64 << 20

// Response is what came back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// String is the body as text.
func (r Response) String() string { return string(r.Body) }

// Get GETs url within 30 seconds; a transport error fails the test.
func Get(t testing.TB, url string) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Do(ctx, http.DefaultClient, url)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Body GETs url and returns its body as text.
func Body(t testing.TB, url string) string {
	t.Helper()
	return Get(t, url).String()
}

// JSON GETs url, decodes its body into out and returns the status.
func JSON(t testing.TB, url string, out any) int {
	t.Helper()
	r := Get(t, url)
	if err := json.Unmarshal(r.Body, out); err != nil {
		t.Fatalf("%s: %d %s: %v", url, r.Status, r.Body, err)
	}
	return r.Status
}

// Do GETs url with client under ctx; for callers that poll and must not fail
// the test on the first refused connection.
func Do(ctx context.Context, client *http.Client, url string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Response{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Response{}, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// DoJSON GETs url with client under ctx and decodes its body into out.
func DoJSON(ctx context.Context, client *http.Client, url string, out any) error {
	r, err := Do(ctx, client, url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		return fmt.Errorf("GET %s: %d: %w", url, r.Status, err)
	}
	return nil
}
