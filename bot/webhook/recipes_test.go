package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clorebot/clorebot/commands"
)

// The webhook recipes live in recipes/ and are run here, as a user would run
// them, against the API on loopback. docs/webhooks.md shows each file
// verbatim (checked below), so what users copy is what was tested.

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

func TestDocsShowTheRecipesVerbatim(t *testing.T) {
	readme, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clorebot-webhook.sh", "zapier-code-step.js", "github-actions-step.yml"} {
		recipe, err := os.ReadFile(filepath.Join("recipes", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, recipe) {
			t.Errorf("docs/webhooks.md does not show recipes/%s verbatim", name)
		}
	}
}

// listen serves the harness's API on a loopback port.
func (h *harness) listen() string {
	srv := httptest.NewServer(h.handler)
	h.t.Cleanup(srv.Close)
	return srv.URL
}

// cheapModel is a GPU model with a free offer that the test policy lets
// cron and zapier rent.
func (h *harness) cheapModel() string {
	h.t.Helper()
	models, err := h.svc.Market(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	best, model := 1e9, ""
	for _, m := range models {
		if m.Available > 0 && m.Reliable > 0 && m.Reliable < best {
			best, model = m.Reliable, m.Model
		}
	}
	if model == "" {
		h.t.Fatal("no model on offer")
	}
	return model
}

// jobOf reads a 202 answer and checks that its job is stored.
func (h *harness) jobOf(out []byte) string {
	h.t.Helper()
	var ans struct {
		Status string `json:"status"`
		JobID  string `json:"job_id"`
	}
	if err := json.Unmarshal(out, &ans); err != nil || ans.Status != "queued" || ans.JobID == "" {
		h.t.Fatalf("answer is not queued: %s", out)
	}
	if _, err := h.store.GetJob(context.Background(), ans.JobID); err != nil {
		h.t.Fatalf("job %s: %v", ans.JobID, err)
	}
	return ans.JobID
}

func TestRecipeCronWithCurlAndOpenSSL(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "curl", "openssl")
	h := newHarness(t)
	url := h.listen()
	secretFile := filepath.Join(t.TempDir(), "cron.secret")
	if err := os.WriteFile(secretFile, []byte(h.secrets["cron"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"gpu_type": %q, "hours": 1}`, h.cheapModel())
	cmd := exec.Command("bash", "recipes/clorebot-webhook.sh", "/webhook/create-order", body)
	cmd.Env = append(os.Environ(), "CLOREBOT_URL="+url, "CLOREBOT_SECRET_FILE="+secretFile)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("recipe: %v\n%s", err, out)
	}
	job := h.jobOf(out)
	if j, _ := h.store.GetJob(context.Background(), job); j.RequestedBy != "webhook:cron" {
		t.Errorf("job requested by %q, want webhook:cron", j.RequestedBy)
	}

	// A bad body is refused with the field named, and curl fails.
	cmd = exec.Command("bash", "recipes/clorebot-webhook.sh", "/webhook/create-order", `{"gpu_type": "RTX 4090", "max_price": -1}`)
	cmd.Env = append(os.Environ(), "CLOREBOT_URL="+url, "CLOREBOT_SECRET_FILE="+secretFile)
	out, err = cmd.Output()
	if err == nil || !strings.Contains(string(out), "max_price") {
		t.Errorf("bad body: %v\n%s", err, out)
	}
}

// TestRecipeGitHubActionsSteps runs the CI recipe's steps as GitHub would,
// against the API with its job workers running: the rent step waits until
// the order runs, a retried rent step rents nothing more, and the cancel
// step (if: always()) cancels the order, also when the job ended while the
// rent was still on its way.
func TestRecipeGitHubActionsSteps(t *testing.T) {
	t.Parallel()
	needTools(t, "bash", "curl", "openssl", "jq")
	yml, err := os.ReadFile("recipes/github-actions-step.yml")
	if err != nil {
		t.Fatal(err)
	}
	steps := parseSteps(t, string(yml))
	rent, cancel := steps["Rent a GPU through clorebot"], steps["Cancel the GPU"]
	if rent.run == "" || cancel.run == "" {
		t.Fatalf("the recipe lacks its rent or cancel step: %+v", steps)
	}
	if !strings.Contains(cancel.cond, "always()") {
		t.Errorf("the cancel step runs if %q; it must run always()", cancel.cond)
	}

	t.Run("rent, retry, cancel", func(t *testing.T) {
		t.Parallel()
		g := newGitHubRun(t)
		g.run(rent, nil)
		g.run(rent, nil) // a retried step: the same webhook-id, the first answer
		out := g.outputs()
		if len(out["job_id"]) != 2 || out["job_id"][0] != out["job_id"][1] || out["job_id"][0] == "" {
			t.Fatalf("job_id outputs %q, want the same job twice", out["job_id"])
		}
		if n := g.h.count("jobs"); n != 1 {
			t.Errorf("%d jobs after a retried step, want 1", n)
		}
		if len(out["order_id"]) == 0 || out["order_id"][0] == "" || out["order_id"][0] == "null" {
			t.Fatalf("the rent step did not wait for the order: outputs %q", out)
		}
		if fi, err := os.Stat(filepath.Join(g.temp, "clorebot-order.json")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("the order's details are not kept for the next steps (mode 0600): %v", err)
		}
		g.run(cancel, []string{"JOB_ID=" + out["job_id"][0]})
		g.wantCancelled(out["order_id"][0])
	})

	t.Run("the job ends before the order runs", func(t *testing.T) {
		t.Parallel()
		g := newGitHubRun(t)
		// The rent is accepted, then the job fails or is cancelled at once:
		// only the cancel step runs after it.
		answer := g.sign("/webhook/command", rent.env["BODY"])
		var queued struct {
			JobID string `json:"job_id"`
		}
		if err := json.Unmarshal(answer, &queued); err != nil || queued.JobID == "" {
			t.Fatalf("rent: %s", answer)
		}
		g.run(cancel, []string{"JOB_ID=" + queued.JobID})
		job, err := g.h.store.GetJob(context.Background(), queued.JobID)
		if err != nil {
			t.Fatal(err)
		}
		var res struct { // the job's result is the order (DESIGN §5)
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(job.Result, &res); err != nil || res.ID == 0 {
			t.Fatalf("rent job %s ended %s without an order: %s", job.ID, job.State, job.Result)
		}
		g.wantCancelled(fmt.Sprint(res.ID))
	})
}

// step is one step of a GitHub Actions recipe.
type step struct {
	cond string            // if:
	env  map[string]string // literal env values; ${{ }} expressions are left out
	run  string
}

// parseSteps reads the recipe's steps by name: a list of mappings at the
// top level, each with if, env and a run block indented by four.
func parseSteps(t *testing.T, yml string) map[string]step {
	t.Helper()
	steps := map[string]step{}
	var name string
	var cur step
	var run []string
	block := ""
	flush := func() {
		if name != "" {
			cur.run = strings.Join(run, "\n")
			steps[name] = cur
		}
	}
	for line := range strings.SplitSeq(yml, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "- name: "):
			flush()
			name, cur, run, block = strings.TrimPrefix(line, "- name: "), step{env: map[string]string{}}, nil, ""
		case block == "run" && (strings.HasPrefix(line, "    ") || line == ""):
			run = append(run, strings.TrimPrefix(line, "    "))
		case block == "env" && strings.HasPrefix(line, "    "):
			k, v, _ := strings.Cut(trimmed, ": ")
			if !strings.HasPrefix(v, "${{") {
				cur.env[k] = strings.Trim(v, "'")
			}
		case strings.HasPrefix(line, "  if: "):
			cur.cond, block = strings.TrimPrefix(line, "  if: "), ""
		case line == "  env:":
			block = "env"
		case line == "  run: |":
			block = "run"
		default:
			block = ""
		}
	}
	flush()
	return steps
}

// gitHubRun is one workflow job: a checkout holding the signing script, the
// API with its job workers, and GitHub's step environment.
type gitHubRun struct {
	t                    *testing.T
	h                    *harness
	url, dir, temp, outs string
}

func newGitHubRun(t *testing.T) *gitHubRun {
	t.Helper()
	h := newHarness(t)
	g := &gitHubRun{t: t, h: h, url: h.listen(), dir: t.TempDir(), temp: t.TempDir()}
	g.outs = filepath.Join(g.temp, "github_output")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	script, err := os.ReadFile("recipes/clorebot-webhook.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(g.dir, ".github", "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.dir, ".github", "scripts", "clorebot-webhook.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *gitHubRun) environ(extra []string) []string {
	return append(os.Environ(), append([]string{"CLOREBOT_URL=" + g.url, "CLOREBOT_SECRET=" + g.h.secrets["cron"],
		"CLOREBOT_POLL_SECONDS=0.1", "GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=train",
		"GITHUB_OUTPUT=" + g.outs, "RUNNER_TEMP=" + g.temp}, extra...)...)
}

// run runs a step with GitHub's default shell flags; it must succeed.
func (g *gitHubRun) run(s step, extra []string) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", s.run)
	cmd.Dir = g.dir
	cmd.Env = g.environ(extra)
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("step: %v\n%s", err, out)
	}
}

// sign sends one request with the signing script.
func (g *gitHubRun) sign(route, body string) []byte {
	g.t.Helper()
	cmd := exec.Command("bash", ".github/scripts/clorebot-webhook.sh", route, body)
	cmd.Dir = g.dir
	cmd.Env = g.environ(nil)
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("%s: %v\n%s", route, err, out)
	}
	return out
}

// outputs reads GITHUB_OUTPUT: every value of each name, in order.
func (g *gitHubRun) outputs() map[string][]string {
	g.t.Helper()
	b, err := os.ReadFile(g.outs)
	if err != nil {
		g.t.Fatal(err)
	}
	out := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		out[k] = append(out[k], v)
	}
	return out
}

// wantCancelled checks that clorebot recorded the order cancelled.
func (g *gitHubRun) wantCancelled(orderID string) {
	g.t.Helper()
	id, err := strconv.ParseInt(orderID, 10, 64)
	if err != nil {
		g.t.Fatalf("order id %q: %v", orderID, err)
	}
	o, err := g.h.store.GetOrderByCloreID(context.Background(), id)
	if err != nil {
		g.t.Fatal(err)
	}
	if o.State != commands.OrderCancelled {
		g.t.Errorf("order %d is %s after the cancel step, want cancelled", id, o.State)
	}
}

func TestRecipeZapierCodeStep(t *testing.T) {
	t.Parallel()
	needTools(t, "node")
	h := newHarness(t)
	url := h.listen()
	code, err := os.ReadFile("recipes/zapier-code-step.js")
	if err != nil {
		t.Fatal(err)
	}
	model := h.cheapModel()
	for _, key := range []string{"zapier", "cron"} { // a whsec_ secret and a text secret
		t.Run(key, func(t *testing.T) {
			// Zapier runs the code with inputData given and output to fill in.
			input, _ := json.Marshal(map[string]string{"secret": h.secrets[key], "gpu_type": model, "hours": "1"})
			wrapped := "const inputData = " + string(input) + ";\nlet output;\n" + string(code) +
				"\nprocess.stdout.write(JSON.stringify(output));\n"
			path := filepath.Join(t.TempDir(), "step.js")
			if err := os.WriteFile(path, []byte(wrapped), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("node", path).Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var o map[string]string
			if err := json.Unmarshal(out, &o); err != nil {
				t.Fatalf("output: %v\n%s", err, out)
			}
			// The Custom Request step: raw data and the three headers.
			req, _ := http.NewRequest(http.MethodPost, url+"/webhook/create-order", strings.NewReader(o["body"]))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("webhook-id", o["webhook_id"])
			req.Header.Set("webhook-timestamp", o["webhook_timestamp"])
			req.Header.Set("webhook-signature", o["webhook_signature"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("create-order = %d %s", resp.StatusCode, buf.String())
			}
			h.jobOf(buf.Bytes())
		})
	}
}
