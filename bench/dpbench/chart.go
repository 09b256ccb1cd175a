package dpbench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// glyphs is a 5×7 bitmap font (one byte per row, low 5 bits) for the
// chart's labels; lower case is drawn as upper case.
var glyphs = map[rune][7]byte{
	'0': {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, '1': {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
	'2': {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, '3': {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
	'4': {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, '5': {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
	'6': {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, '7': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, '9': {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
	'A': {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}, 'B': {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
	'C': {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, 'D': {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},
	'E': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, 'F': {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
	'G': {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, 'H': {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
	'I': {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, 'J': {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
	'K': {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, 'L': {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
	'M': {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, 'N': {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
	'O': {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'P': {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
	'Q': {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, 'R': {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
	'S': {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, 'T': {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
	'U': {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, 'V': {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
	'W': {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, 'X': {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
	'Y': {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, 'Z': {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
	'.': {0, 0, 0, 0, 0, 0x0C, 0x0C}, '-': {0, 0, 0, 0x1F, 0, 0, 0}, '/': {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0},
	'=': {0, 0, 0x1F, 0, 0x1F, 0, 0}, '(': {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},
	')': {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, ':': {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0},
}

var palette = []color.RGBA{
	{90, 90, 90, 255}, {30, 120, 220, 255}, {230, 120, 20, 255}, {200, 40, 40, 255}, {40, 160, 70, 255},
	{140, 80, 180, 255}, {120, 90, 40, 255},
}

type canvas struct{ img *image.RGBA }

func (c canvas) rect(x0, y0, x1, y1 int, col color.RGBA) {
	if x0 > x1 {
		x0, x1 = x1, x0
	}
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c.img.SetRGBA(x, y, col)
		}
	}
}

// text draws s at (x, y) (top left) with each font pixel scale×scale.
func (c canvas) text(x, y int, s string, scale int, col color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '×':
			r = 'X'
		case 'µ':
			r = 'U'
		}
		g := glyphs[r]
		for row := 0; row < 7; row++ {
			for bit := 0; bit < 5; bit++ {
				if g[row]&(0x10>>bit) != 0 {
					c.rect(x+bit*scale, y+row*scale, x+(bit+1)*scale, y+(row+1)*scale, col)
				}
			}
		}
		x += 6 * scale
	}
}

type panel struct {
	title  string
	metric string
	ratio  bool // plot ratio to direct instead of the value
	log    bool // log10 axis
}

// WritePNG draws one panel per headline metric: bars of the median per
// mode, grouped by service count, with min–max whiskers.
func (r *Results) WritePNG(path string) error {
	panels := []panel{
		{"new conn/s ratio to direct", MConnRate, true, false},
		{"p50 latency (us)", MLatP50, false, false},
		{"throughput (gbit/s)", MTput, false, false},
		{"program all services (ms log10)", MProgram, false, true},
		{"endpoint change (ms log10)", MChange, false, true},
		{"p99 latency (us)", MLatP99, false, false},
	}
	const pw, ph, cols = 600, 340, 2
	rows := (len(panels) + cols - 1) / cols
	W, H := pw*cols, ph*rows+70
	c := canvas{image.NewRGBA(image.Rect(0, 0, W, H))}
	c.rect(0, 0, W, H, color.RGBA{255, 255, 255, 255})
	black := color.RGBA{0, 0, 0, 255}
	c.text(10, 10, fmt.Sprintf("skiff dataplane bench: %d reps  kernel %s  %d cpus", r.Config.Reps, r.Kernel, r.CPUs), 2, black)
	x := 10
	for k, m := range r.Modes {
		col := palette[k%len(palette)]
		c.rect(x, 40, x+16, 56, col)
		c.text(x+22, 42, m, 2, black)
		x += 22 + 12*len(m) + 24
	}
	for k, p := range panels {
		r.drawPanel(c, (k%cols)*pw, 70+(k/cols)*ph, pw, ph, p)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (r *Results) drawPanel(c canvas, ox, oy, w, h int, p panel) {
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{200, 200, 200, 255}
	c.text(ox+50, oy+6, p.title, 2, black)
	left, top, right, bottom := ox+60, oy+30, ox+w-15, oy+h-30
	type bar struct{ med, lo, hi float64 }
	val := func(mode string, n int) (bar, bool) {
		row := r.row(mode, n)
		if row == nil || row.Missing != "" {
			return bar{}, false
		}
		v, ok := row.Metrics[p.metric]
		if !ok {
			return bar{}, false
		}
		b := bar{v.Median, v.Min, v.Max}
		if p.ratio {
			if v.RatioToDirect == nil {
				return bar{}, false
			}
			b = bar{v.RatioToDirect.Median, v.RatioToDirect.Min, v.RatioToDirect.Max}
		}
		if p.log {
			f := func(x float64) float64 { return math.Log10(math.Max(x, 0.01)) + 2 } // 0.01 ms at the axis
			b = bar{f(b.med), f(b.lo), f(b.hi)}
		}
		return b, true
	}
	top1 := 0.0
	for _, m := range r.Modes {
		for _, n := range r.Config.Services {
			// Scale by the medians so one outlier's whisker cannot flatten
			// the panel; whiskers are clipped at the top.
			if b, ok := val(m, n); ok {
				top1 = math.Max(top1, math.Min(b.hi, 1.5*b.med))
			}
		}
	}
	if top1 <= 0 {
		top1 = 1
	}
	top1 *= 1.1
	y := func(v float64) int { return bottom - int(math.Min(v, top1)/top1*float64(bottom-top)) }
	c.rect(left, bottom, right, bottom+1, black)
	c.rect(left, top, left+1, bottom, black)
	// Grid: 4 lines labelled with their values, or one per decade on a log axis.
	var grid []float64
	for g := 1; g <= 4; g++ {
		grid = append(grid, top1/1.1*float64(g)/4)
	}
	if p.log {
		grid = grid[:0]
		for v := 1.0; v < top1; v++ {
			grid = append(grid, v)
		}
	}
	for _, v := range grid {
		yy := y(v)
		c.rect(left+1, yy, right, yy+1, grey)
		label := num(v)
		if p.log {
			label = num(math.Pow(10, v-2))
		}
		c.text(ox+4, yy-3, label, 1, black)
	}
	if p.ratio {
		yy := y(1)
		c.rect(left+1, yy, right, yy+2, color.RGBA{120, 120, 120, 255})
	}
	groups := len(r.Config.Services)
	gw := (right - left) / max(groups, 1)
	bw := max((gw-20)/max(len(r.Modes), 1), 2)
	for gi, n := range r.Config.Services {
		gx := left + gi*gw + 10
		c.text(gx, bottom+8, fmt.Sprintf("n=%d", n), 2, black)
		for mi, m := range r.Modes {
			bx := gx + mi*bw
			b, ok := val(m, n)
			if !ok {
				c.text(bx+bw/2-3, bottom-10, "x", 1, palette[mi%len(palette)])
				continue
			}
			c.rect(bx+1, y(b.med), bx+bw-1, bottom, palette[mi%len(palette)])
			mid := bx + bw/2
			c.rect(mid, y(b.hi), mid+1, y(b.lo)+1, black)
		}
	}
}
