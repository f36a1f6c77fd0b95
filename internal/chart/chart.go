// Package chart renders the PNG charts clorebot shows in chat (spend, price
// history), in-process and without CGO.
//
// The API is what the command layer calls; the rendering behind it
// (gonum.org/v1/plot, rasterised by its pure-Go vgimg backend with the
// Liberation fonts it embeds) is kept in this package alone.
//
// Every chart has an opaque light background with dark text: Slack and
// Discord show an image as it is on both their light and dark themes, and a
// transparent one would put dark text on a dark theme.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"strings"
	"time"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	Value float64
}

// Bars describes a bar chart (spend per identity, per GPU, per week).
type Bars struct {
	Title string
	Unit  string // e.g. "USD"
	Bars  []Bar
}

// Point is one sample of a line chart.
type Point struct {
	At    time.Time
	Value float64
}

// Line describes a line chart over time (the cheapest offer of a GPU model).
type Line struct {
	Title string
	Unit  string // e.g. "USD/GPU/h"
	// Series are named lines; most charts have one.
	Series []Series
}

// Series is one named line.
type Series struct {
	Name   string
	Points []Point
}

// Size is a chart's size in pixels.
type Size struct{ W, H int }

// Default sizes.
var (
	Large = Size{W: 800, H: 400} // digests, spend, market --history
	Small = Size{W: 400, H: 160} // next to a watch alert
)

// ErrNoData is returned for a chart with nothing to draw.
var ErrNoData = errors.New("chart: no data")

// The palette: an opaque light background, dark text, a light grid, and
// series colours of mid lightness that keep their contrast on the
// background (and stay tellable apart for the common colour-vision
// deficiencies: the Okabe–Ito blue, vermillion, bluish green, purple).
var (
	Background = color.RGBA{R: 0xfa, G: 0xfa, B: 0xfa, A: 0xff}
	Foreground = color.RGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}
	GridColor  = color.RGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}
	Palette    = []color.RGBA{
		{R: 0x00, G: 0x72, B: 0xb2, A: 0xff},
		{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff},
		{R: 0x00, G: 0x9e, B: 0x73, A: 0xff},
		{R: 0xcc, G: 0x79, B: 0xa7, A: 0xff},
	}
)

// maxSize bounds a chart's sides: a caller's mistake must not allocate
// gigabytes.
const maxSize = 4000

// RenderBars draws b as a PNG of the given size: one bar per entry, labelled
// under it, the value axis from 0 in b.Unit (USD as $).
func RenderBars(b Bars, s Size) ([]byte, error) {
	if len(b.Bars) == 0 {
		return nil, ErrNoData
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	vals := make(plotter.Values, len(b.Bars))
	labels := make([]string, len(b.Bars))
	for i, bar := range b.Bars {
		if !finite(bar.Value) {
			return nil, fmt.Errorf("chart: bar %q: value %v is not a number", bar.Label, bar.Value)
		}
		vals[i], labels[i] = bar.Value, shorten(bar.Label, 18)
	}
	p := newPlot(b.Title, s, false)
	width := vg.Length(float64(s.W-120) / float64(len(vals)) * 0.6)
	bc, err := plotter.NewBarChart(vals, max(width, 2))
	if err != nil {
		return nil, fmt.Errorf("chart: bars: %w", err)
	}
	bc.Color, bc.LineStyle.Width = Palette[0], 0
	p.Add(bc)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(vals))-0.5
	p.X.Tick.Label.Color = Foreground
	p.X.LineStyle.Color = Foreground
	p.Y.Min = math.Min(0, p.Y.Min)
	p.Y.Max = niceMax(p.Y.Max)
	valueAxis(&p.Y, b.Unit)
	return encode(p, s)
}

// RenderLine draws l as a PNG of the given size: the time axis in UTC with
// dates or hours as the span asks, the value axis in l.Unit (USD as $), a
// legend when there is more than one series.
func RenderLine(l Line, s Size) ([]byte, error) {
	n := 0
	for _, sr := range l.Series {
		n += len(sr.Points)
	}
	if n == 0 {
		return nil, ErrNoData
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	p := newPlot(l.Title, s, true)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, sr := range l.Series {
		if len(sr.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(sr.Points))
		for j, pt := range sr.Points {
			if !finite(pt.Value) {
				return nil, fmt.Errorf("chart: series %q: value %v is not a number", sr.Name, pt.Value)
			}
			xys[j] = plotter.XY{X: unix(pt.At), Y: pt.Value}
			lo, hi = math.Min(lo, pt.Value), math.Max(hi, pt.Value)
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart: series %q: %w", sr.Name, err)
		}
		ln.Color = Palette[i%len(Palette)]
		ln.Width = vg.Length(2)
		if s.H < 200 {
			ln.Width = 1.5
		}
		p.Add(ln)
		if len(xys) == 1 {
			// A lone sample draws no line: show it as a dot.
			dot, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, fmt.Errorf("chart: series %q: %w", sr.Name, err)
			}
			dot.GlyphStyle = draw.GlyphStyle{Color: ln.Color, Radius: 4, Shape: draw.CircleGlyph{}}
			p.Add(dot)
		}
		if len(l.Series) > 1 {
			p.Legend.Add(sr.Name, ln)
		}
	}
	// A flat line sits in the middle of a band around its value.
	pad := (hi - lo) * 0.1
	if pad == 0 {
		pad = math.Max(math.Abs(hi)*0.1, 0.01)
	}
	p.Y.Min, p.Y.Max = math.Max(lo-pad, math.Min(lo, 0)), hi+pad
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min-1800, p.X.Max+1800
	}
	valueAxis(&p.Y, l.Unit)
	p.X.Tick.Marker = timeTicks{}
	p.X.Label.Text = "time (UTC)"
	if s.H < 200 {
		p.X.Label.Text = ""
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Color = Foreground
	return encode(p, s)
}

// check refuses sizes that cannot hold a chart or would be huge.
func (s Size) check() error {
	if s.W < 100 || s.H < 60 || s.W > maxSize || s.H > maxSize {
		return fmt.Errorf("chart: size %dx%d out of range (100x60 to %dx%d)", s.W, s.H, maxSize, maxSize)
	}
	return nil
}

// newPlot is a plot in the house palette, with fonts scaled to s.
func newPlot(title string, s Size, vgrid bool) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = Background
	small := s.H < 200
	titleSize, textSize := vg.Length(15), vg.Length(11)
	if small {
		titleSize, textSize = 11, 9
	}
	p.Title.Text = title
	p.Title.TextStyle.Color = Foreground
	p.Title.TextStyle.Font = font.From(font.Font{Typeface: "Liberation", Variant: "Sans", Weight: xfont.WeightBold}, titleSize)
	p.Title.Padding = 4
	regular := font.Font{Typeface: "Liberation", Variant: "Sans"}
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Color = Foreground
		a.Label.TextStyle.Color = Foreground
		a.Label.TextStyle.Font = font.From(regular, textSize)
		a.Tick.Label.Color = Foreground
		a.Tick.Label.Font = font.From(regular, textSize)
		a.Tick.Color = Foreground
		a.Padding = 0
	}
	p.Legend.TextStyle.Font = font.From(regular, textSize)
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = GridColor, GridColor
	grid.Vertical.Width, grid.Horizontal.Width = 0.5, 0.5
	grid.Vertical.Dashes, grid.Horizontal.Dashes = nil, nil
	if !vgrid {
		grid.Vertical.Color = nil
	}
	p.Add(grid)
	return p
}

// valueAxis labels the value axis with unit, money as $.
func valueAxis(a *plot.Axis, unit string) {
	a.Label.Text = unit
	money := strings.HasPrefix(strings.ToUpper(unit), "USD")
	a.Tick.Marker = valueTicks{money: money}
}

// encode rasterises p at s pixels (72 dpi: one point, one pixel) as PNG.
func encode(p *plot.Plot, s Size) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(s.W), vg.Length(s.H)), vgimg.UseDPI(72),
		vgimg.UseBackgroundColor(Background))
	dc := draw.New(c)
	margin := vg.Length(8)
	if s.H < 200 {
		margin = 4
	}
	p.Draw(draw.Crop(dc, margin, -margin, margin, -margin))
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, c.Image()); err != nil {
		return nil, fmt.Errorf("chart: encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// valueTicks are about five labelled ticks on round values (1, 2, 2.5, 5
// × 10^k), money as $ when money is set.
type valueTicks struct {
	money bool
}

// Ticks implements plot.Ticker.
func (t valueTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: formatValue(lo, 0.01, t.money)}}
	}
	step := niceStep((hi - lo) / 5)
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: formatValue(v, step, t.money)})
	}
	return ticks
}

// niceStep is the round value at or above raw: 1, 2, 2.5 or 5 × 10^k.
func niceStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// formatValue prints v with as many decimals as the tick step needs; money
// with two at least below $10 steps, and a $ sign.
func formatValue(v, step float64, money bool) string {
	dec := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	if step < 1 && math.Mod(step*math.Pow(10, float64(dec)), 1) > 1e-6 {
		dec++ // 0.25
	}
	if money && step < 10 {
		dec = max(dec, 2)
	}
	if math.Abs(v) < step*1e-9 {
		v = 0
	}
	s := fmt.Sprintf("%.*f", dec, math.Abs(v))
	if money {
		s = "$" + s
	}
	if v < 0 {
		s = "-" + s
	}
	return s
}

// timeTicks places ticks on round UTC hours or days, about six of them.
type timeTicks struct{}

// steps are the tick spacings timeTicks chooses from.
var steps = []time.Duration{
	time.Minute * 10, time.Minute * 30, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour,
	12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// Ticks implements plot.Ticker.
func (timeTicks) Ticks(lo, hi float64) []plot.Tick {
	span := time.Duration((hi - lo) * float64(time.Second))
	step := steps[len(steps)-1]
	for _, st := range steps {
		if span/st <= 7 {
			step = st
			break
		}
	}
	layout := "15:04"
	if step >= 24*time.Hour {
		layout = "Jan 2"
	} else if span > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	start := fromUnix(lo).Truncate(step)
	var ticks []plot.Tick
	for t := start; unix(t) <= hi; t = t.Add(step) {
		if unix(t) < lo {
			continue
		}
		ticks = append(ticks, plot.Tick{Value: unix(t), Label: t.Format(layout)})
	}
	return ticks
}

// unix is t in seconds since the epoch, the time axis's unit.
func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// fromUnix is unix's inverse, in UTC.
func fromUnix(v float64) time.Time { return time.UnixMilli(int64(math.Round(v * 1000))).UTC() }

// niceMax gives a bar chart headroom above its tallest bar.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	return v * 1.1
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// shorten cuts s to n runes with an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
