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
	"strings"
	"testing"
)

// The README's webhook recipes live in recipes/ and are run here, as a user
// would run them, against the API on loopback. The README shows each file
// verbatim (checked below), so what users copy is what was tested.

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

func TestREADMEShowsTheRecipesVerbatim(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clorebot-webhook.sh", "zapier-code-step.js", "github-actions-step.yml"} {
		recipe, err := os.ReadFile(filepath.Join("recipes", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, recipe) {
			t.Errorf("README.md does not show recipes/%s verbatim", name)
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

func TestRecipeGitHubActionsStep(t *testing.T) {
	needTools(t, "bash", "curl", "openssl", "jq")
	h := newHarness(t)
	url := h.listen()
	step, err := os.ReadFile("recipes/github-actions-step.yml")
	if err != nil {
		t.Fatal(err)
	}
	script, body := runBlock(t, string(step))
	outputs := filepath.Join(t.TempDir(), "github_output")
	runStep := func() {
		t.Helper()
		cmd := exec.Command("bash", "-eo", "pipefail", "-c", script) // GitHub's default shell flags
		cmd.Env = append(os.Environ(), "CLOREBOT_URL="+url, "CLOREBOT_SECRET="+h.secrets["cron"], "BODY="+body,
			"GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_JOB=train", "GITHUB_OUTPUT="+outputs)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("step: %v\n%s", err, out)
		}
	}
	// The step runs twice, as a retried step does: one job, one id.
	runStep()
	runStep()
	got, _ := os.ReadFile(outputs)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 2 || lines[0] != lines[1] || !strings.HasPrefix(lines[0], "job_id=") || len(lines[0]) <= len("job_id=") {
		t.Fatalf("GITHUB_OUTPUT:\n%s", got)
	}
	h.jobOf(fmt.Appendf(nil, `{"status":"queued","job_id":%q}`, strings.TrimPrefix(lines[0], "job_id=")))
	if n := h.count("jobs"); n != 1 {
		t.Errorf("%d jobs after a retried step, want 1", n)
	}
}

// runBlock returns the step's `run: |` script and its BODY variable.
func runBlock(t *testing.T, yml string) (script, body string) {
	t.Helper()
	var run []string
	in := false
	for line := range strings.SplitSeq(yml, "\n") {
		switch {
		case strings.TrimSpace(line) == "run: |":
			in = true
		case in && (strings.HasPrefix(line, "    ") || line == ""):
			run = append(run, strings.TrimPrefix(line, "    "))
		case in:
			in = false
		case strings.HasPrefix(strings.TrimSpace(line), "BODY: '"):
			body = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(line), "BODY: '"), "'")
		}
	}
	if len(run) == 0 || body == "" {
		t.Fatalf("no run block or BODY in the step:\n%s", yml)
	}
	return strings.Join(run, "\n"), body
}

func TestRecipeZapierCodeStep(t *testing.T) {
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
