package clore

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/clorebot/clorebot/clore/sandbox"
)

// BenchmarkMarketplaceDecode decodes and normalises the sandbox's 2,000-server
// marketplace answer: what every market query, watch tick and rent costs in CPU.
func BenchmarkMarketplaceDecode(b *testing.B) {
	payload := marketplacePayload(b, 2000)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var r marketplaceResponse
		if err := decode("marketplace", 200, payload, &r); err != nil {
			b.Fatal(err)
		}
		if offers := Offers(r.Servers); len(offers) != 2000 {
			b.Fatalf("%d offers", len(offers))
		}
	}
}

// BenchmarkMarketplaceDecodeOneMalformed is the same answer with one server's
// reliability sent as a string: the whole list falls back to decoding server
// by server, and 1,999 servers come back.
func BenchmarkMarketplaceDecodeOneMalformed(b *testing.B) {
	payload := marketplacePayload(b, 2000)
	i := bytes.Index(payload, []byte(`"reliability":`)) + len(`"reliability":`)
	j := i + bytes.IndexByte(payload[i:], ',')
	payload = slices.Concat(payload[:i], []byte(`"high"`), payload[j:])
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var r marketplaceResponse
		if err := decode("marketplace", 200, payload, &r); err != nil {
			b.Fatal(err)
		}
		if offers := Offers(r.Servers); len(offers) != 1999 || len(r.skipped) != 1 {
			b.Fatalf("%d offers, %d skipped", len(offers), len(r.skipped))
		}
	}
}

func marketplacePayload(b *testing.B, servers int) []byte {
	b.Helper()
	url, stop, err := sandbox.Start(b.Context(), sandbox.Options{StatePath: b.TempDir() + "/sandbox.db", Servers: servers, APIKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, url+"/marketplace", nil)
	req.Header.Set("auth", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("marketplace: %d %v", resp.StatusCode, err)
	}
	return payload
}
