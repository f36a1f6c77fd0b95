package chart_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clorebot/clorebot/internal/chart"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// priceLine is a day of one-minute prices between $0.30 and $0.40.
func priceLine(n int, step time.Duration) chart.Line {
	pts := make([]chart.Point, n)
	for i := range pts {
		pts[i] = chart.Point{At: t0.Add(time.Duration(i) * step), Value: 0.35 + 0.05*math.Sin(float64(i)/40)}
	}
	return chart.Line{Title: "RTX 4090: cheapest offer", Unit: "USD/GPU/h", Series: []chart.Series{{Name: "RTX 4090", Points: pts}}}
}

func spendBars() chart.Bars {
	return chart.Bars{Title: "Spend this month", Unit: "USD", Bars: []chart.Bar{
		{Label: "slack:U1", Value: 120}, {Label: "discord:42", Value: 30}, {Label: "cli:alice", Value: 250}}}
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return img
}

func same(c color.Color, want color.RGBA) bool {
	r, g, b, a := c.RGBA()
	w := color.RGBAModel.Convert(want).(color.RGBA)
	return uint8(r>>8) == w.R && uint8(g>>8) == w.G && uint8(b>>8) == w.B && uint8(a>>8) == w.A
}

// near reports c within tol of want in every channel (anti-aliased edges).
func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y uint8) bool { return math.Abs(float64(int(x>>8)-int(y))) <= float64(tol) }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// count counts the pixels of img within rect that are near want.
func count(img image.Image, rect image.Rectangle, want color.RGBA, tol int) int {
	n := 0
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			if near(img.At(x, y), want, tol) {
				n++
			}
		}
	}
	return n
}

func TestRenderLineSizesBackgroundAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		size chart.Size
		line chart.Line
	}{
		{"large 24h", chart.Large, priceLine(24*60, time.Minute)},
		{"small 24h", chart.Small, priceLine(24*60, time.Minute)},
		{"large 30d", chart.Large, priceLine(30, 24*time.Hour)},
		{"one point", chart.Small, priceLine(1, time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := chart.RenderLine(tc.line, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			img := decode(t, b)
			if got := img.Bounds().Size(); got.X != tc.size.W || got.Y != tc.size.H {
				t.Fatalf("size %v, want %dx%d", got, tc.size.W, tc.size.H)
			}
			// The corners are the opaque background (no transparency: the
			// chart reads alike on light and dark chat themes).
			for _, p := range []image.Point{{0, 0}, {tc.size.W - 1, 0}, {0, tc.size.H - 1}, {tc.size.W - 1, tc.size.H - 1}} {
				if c := img.At(p.X, p.Y); !same(c, chart.Background) {
					t.Errorf("corner %v is %v, want the background %v", p, c, chart.Background)
				}
			}
			// The line's colour is drawn inside the plot area (right of
			// the value labels, below the title, above the time labels).
			area := image.Rect(tc.size.W/8, tc.size.H/8, tc.size.W-5, tc.size.H*3/4)
			if n := count(img, area, chart.Palette[0], 24); n < 20 {
				t.Errorf("%d line pixels in the plot area %v, want many", n, area)
			}
			// ...and nowhere outside the picture's middle band on the left.
			if n := count(img, image.Rect(0, 0, 4, tc.size.H), chart.Palette[0], 24); n != 0 {
				t.Errorf("%d line pixels in the left margin", n)
			}
			// Dark text exists (title, axis labels).
			if n := count(img, img.Bounds(), chart.Foreground, 40); n < 50 {
				t.Errorf("%d text pixels, want the title and labels", n)
			}
		})
	}
}

func TestRenderLineFollowsTheData(t *testing.T) {
	t.Parallel()
	// A step from cheap to dear halfway: the line is low on the left and
	// high on the right.
	var pts []chart.Point
	for i := range 48 {
		v := 0.2
		if i >= 24 {
			v = 0.8
		}
		pts = append(pts, chart.Point{At: t0.Add(time.Duration(i) * time.Hour), Value: v})
	}
	b, err := chart.RenderLine(chart.Line{Unit: "USD/GPU/h", Series: []chart.Series{{Name: "x", Points: pts}}}, chart.Large)
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, b)
	w, h := chart.Large.W, chart.Large.H
	left, right := image.Rect(w/8, 0, w*3/8, h), image.Rect(w*5/8, 0, w-10, h)
	lowY, highY := meanY(img, left), meanY(img, right)
	if !(lowY > highY+100) {
		t.Fatalf("line's mean y left %v, right %v: want the left part well below the right", lowY, highY)
	}
}

// meanY is the mean row of line-coloured pixels in rect.
func meanY(img image.Image, rect image.Rectangle) float64 {
	sum, n := 0, 0
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			if near(img.At(x, y), chart.Palette[0], 24) {
				sum += y
				n++
			}
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(sum) / float64(n)
}

func TestRenderBars(t *testing.T) {
	t.Parallel()
	b, err := chart.RenderBars(spendBars(), chart.Large)
	if err != nil {
		t.Fatal(err)
	}
	img := decode(t, b)
	if got := img.Bounds().Size(); got.X != 800 || got.Y != 400 {
		t.Fatalf("size %v", got)
	}
	if !same(img.At(0, 0), chart.Background) {
		t.Fatalf("background %v", img.At(0, 0))
	}
	// Three bars, left to right: the tallest (250) is the third; its
	// column has far more bar pixels than the second's (30).
	cols := make([]int, 3)
	for i := range cols {
		// Each bar is centred in its third of the plot area (which starts
		// after the value labels, ~60 px).
		x := 60 + (800-70)*(2*i+1)/6
		cols[i] = count(img, image.Rect(x-2, 0, x+3, 400), chart.Palette[0], 8) / 5
	}
	if !(cols[2] > cols[0] && cols[0] > cols[1] && cols[1] > 10) {
		t.Fatalf("bar heights (px) %v, want third > first > second > 0", cols)
	}
	// Heights in proportion: 250/120 ≈ 2.08.
	if r := float64(cols[2]) / float64(cols[0]); r < 1.9 || r > 2.3 {
		t.Errorf("bar height ratio %.2f, want ≈ 2.08", r)
	}
}

func TestRenderDeterministicPixels(t *testing.T) {
	t.Parallel()
	for name, render := range map[string]func() ([]byte, error){
		"line": func() ([]byte, error) { return chart.RenderLine(priceLine(24*60, time.Minute), chart.Large) },
		"bars": func() ([]byte, error) { return chart.RenderBars(spendBars(), chart.Small) },
	} {
		t.Run(name, func(t *testing.T) {
			a, err := render()
			if err != nil {
				t.Fatal(err)
			}
			b, err := render()
			if err != nil {
				t.Fatal(err)
			}
			ia, ib := decode(t, a), decode(t, b)
			bounds := ia.Bounds()
			for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
				for x := bounds.Min.X; x < bounds.Max.X; x++ {
					if ia.At(x, y) != ib.At(x, y) {
						t.Fatalf("pixel (%d,%d) differs between runs: %v vs %v", x, y, ia.At(x, y), ib.At(x, y))
					}
				}
			}
		})
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	if _, err := chart.RenderLine(chart.Line{}, chart.Large); !errors.Is(err, chart.ErrNoData) {
		t.Errorf("empty line: %v, want ErrNoData", err)
	}
	if _, err := chart.RenderBars(chart.Bars{}, chart.Large); !errors.Is(err, chart.ErrNoData) {
		t.Errorf("empty bars: %v, want ErrNoData", err)
	}
	if _, err := chart.RenderLine(priceLine(3, time.Hour), chart.Size{W: 1e6, H: 1e6}); err == nil {
		t.Error("a huge size was accepted")
	}
	nan := priceLine(3, time.Hour)
	nan.Series[0].Points[1].Value = math.NaN()
	if _, err := chart.RenderLine(nan, chart.Large); err == nil {
		t.Error("NaN was accepted")
	}
}

// TestWriteSamples writes sample charts to $CHART_SAMPLES (to look at).
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("CHART_SAMPLES")
	if dir == "" {
		t.Skip("set CHART_SAMPLES to a directory to write sample charts")
	}
	for name, render := range map[string]func() ([]byte, error){
		"line-large.png": func() ([]byte, error) { return chart.RenderLine(priceLine(7*24, time.Hour), chart.Large) },
		"line-small.png": func() ([]byte, error) { return chart.RenderLine(priceLine(24*60, time.Minute), chart.Small) },
		"bars-large.png": func() ([]byte, error) { return chart.RenderBars(spendBars(), chart.Large) },
	} {
		b, err := render()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkRenderLine is a market --history 30d chart at full size (720
// hourly points) and a watch alert's 24 h chart (1,440 points, small).
func BenchmarkRenderLine(b *testing.B) {
	for name, c := range map[string]struct {
		l chart.Line
		s chart.Size
	}{
		"large-720":  {priceLine(720, time.Hour), chart.Large},
		"small-1440": {priceLine(1440, time.Minute), chart.Small},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := chart.RenderLine(c.l, c.s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRenderBars is a spend chart at full size.
func BenchmarkRenderBars(b *testing.B) {
	for b.Loop() {
		if _, err := chart.RenderBars(spendBars(), chart.Large); err != nil {
			b.Fatal(err)
		}
	}
}
