package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

// promAPI is the part of Prometheus' HTTP API the tests use.
type promAPI struct {
	base   string
	client *http.Client
}

func newPromAPI(base string) *promAPI {
	return &promAPI{base: base, client: &http.Client{Timeout: 10 * time.Second}}
}

type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
	Data      json.RawMessage `json:"data"`
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`  // instant vector
	Values [][]any           `json:"values"` // matrix
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// queryResult is an evaluated expression: its series (or a scalar), and
// what Prometheus said about it.
type queryResult struct {
	Series   []promSeries
	Scalar   bool
	Warnings []string
	Infos    []string
}

func (r queryResult) empty() bool { return len(r.Series) == 0 && !r.Scalar }

// get calls a read endpoint: by POST when it takes one (long queries fit),
// by GET otherwise.
func (p *promAPI) get(ctx context.Context, path string, params url.Values) (*promResponse, error) {
	var req *http.Request
	var err error
	if strings.HasPrefix(path, "/api/v1/query") {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	}
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r promResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %s: %s", path, resp.Status, testproc.Tail(string(b), 300))
	}
	if r.Status != "success" {
		return &r, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return &r, nil
}

func (p *promAPI) result(r *promResponse) (queryResult, error) {
	out := queryResult{Warnings: r.Warnings, Infos: r.Infos}
	var d queryData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return out, err
	}
	switch d.ResultType {
	case "scalar", "string":
		out.Scalar = true
		return out, nil
	default:
		err := json.Unmarshal(d.Result, &out.Series)
		return out, err
	}
}

func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// query evaluates expr at t.
func (p *promAPI) query(ctx context.Context, expr string, t time.Time) (queryResult, error) {
	r, err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {promTime(t)}})
	if err != nil {
		return queryResult{}, err
	}
	return p.result(r)
}

// queryRange evaluates expr from start to end every step.
func (p *promAPI) queryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (queryResult, error) {
	r, err := p.get(ctx, "/api/v1/query_range", url.Values{
		"query": {expr}, "start": {promTime(start)}, "end": {promTime(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	})
	if err != nil {
		return queryResult{}, err
	}
	return p.result(r)
}

// labelValues is what a label_values(selector, label) variable shows.
func (p *promAPI) labelValues(ctx context.Context, label, selector string, start, end time.Time) ([]string, error) {
	r, err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", url.Values{
		"match[]": {selector}, "start": {promTime(start)}, "end": {promTime(end)},
	})
	if err != nil {
		return nil, err
	}
	var vals []string
	err = json.Unmarshal(r.Data, &vals)
	return vals, err
}

// target is a scrape target's health.
type target struct {
	Job       string `json:"scrapePool"`
	URL       string `json:"scrapeUrl"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

func (p *promAPI) targets(ctx context.Context) ([]target, error) {
	var r struct {
		Data struct {
			ActiveTargets []target `json:"activeTargets"`
		} `json:"data"`
	}
	err := httpget.DoJSON(ctx, p.client, p.base+"/api/v1/targets?state=active", &r)
	return r.Data.ActiveTargets, err
}

// ruleGroups counts the loaded rule groups and rules, and the rules whose
// last evaluation failed.
func (p *promAPI) rules(ctx context.Context) (groups, rules int, failing []string, err error) {
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := httpget.DoJSON(ctx, p.client, p.base+"/api/v1/rules", &r); err != nil {
		return 0, 0, nil, err
	}
	for _, g := range r.Data.Groups {
		groups++
		for _, rl := range g.Rules {
			rules++
			if rl.Health == "err" {
				failing = append(failing, rl.Name+": "+rl.LastError)
			}
		}
	}
	return groups, rules, failing, nil
}
