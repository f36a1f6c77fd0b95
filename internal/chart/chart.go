// Package chart renders the PNG charts clorebot shows in chat (spend, price
// history), in-process and without CGO.
//
// The API is what the command layer calls; the rendering behind it is kept
// in this package alone.
package chart

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"time"
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

// RenderBars draws b as a PNG of the given size.
func RenderBars(b Bars, s Size) ([]byte, error) {
	if len(b.Bars) == 0 {
		return nil, ErrNoData
	}
	return placeholder(s)
}

// RenderLine draws l as a PNG of the given size.
func RenderLine(l Line, s Size) ([]byte, error) {
	n := 0
	for _, sr := range l.Series {
		n += len(sr.Points)
	}
	if n == 0 {
		return nil, ErrNoData
	}
	return placeholder(s)
}

// placeholder is a blank picture of the right size (the scaffold before the
// real renderer).
func placeholder(s Size) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, s.W, s.H))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(0, 0, color.Black)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
