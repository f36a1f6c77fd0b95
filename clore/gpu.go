package clore

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// GPU model names, canonical: what clorebot shows and matches on
// ("RTX 4090", "A100 80GB", "H100 SXM", "RTX A6000", "L40S").
var (
	reCount   = regexp.MustCompile(`^\s*(\d+)\s*[xX]\s+(.*)$`)
	reGeForce = regexp.MustCompile(`\b(RTX|GTX|GT)\s?(\d{3,4})\s?(TI)?\s?(SUPER)?\b`)
	reAda     = regexp.MustCompile(`\b(?:RTX\s?)?(\d{4})\s?ADA\b`)
	reAmpereW = regexp.MustCompile(`\b(?:RTX\s?)?A(2000|4000|4500|5000|5500|6000)\b`)
	reDataCtr = regexp.MustCompile(`\b(L40S|L40|L4|A40|A30|A16|A10G?|A2|V100|T4|P100|P40|P4|K80|B200|GH200)\b`)
	reClean   = strings.NewReplacer("NVIDIA", " ", "GEFORCE", " ", "TESLA", " ", "QUADRO", " ", "-", " ", "_", " ", "(R)", " ")
)

// CanonicalGPU maps a GPU name as hosts report it ("NVIDIA GeForce RTX 4090",
// " RTX 3090", "NVIDIA A100-SXM4-80GB") to its canonical model. memGB, the
// memory per GPU if known, tells A100 40GB from 80GB when the name does not.
// Unknown names come back trimmed, so that they still group, without
// control or format characters (a host's name is shown in chat as text).
func CanonicalGPU(name string, memGB float64) string {
	raw := strings.Join(strings.Fields(strings.Map(dropInvisible, name)), " ")
	s := strings.Join(strings.Fields(reClean.Replace(strings.ToUpper(raw))), " ")
	switch {
	case s == "":
		return ""
	case strings.Contains(s, "MIXED"):
		return "Mixed GPUs"
	case strings.Contains(s, "H200"):
		return "H200"
	case strings.Contains(s, "H100"):
		switch {
		case strings.Contains(s, "SXM") || strings.Contains(s, "HBM3"):
			return "H100 SXM"
		case strings.Contains(s, "NVL"):
			return "H100 NVL"
		}
		return "H100 PCIe"
	case strings.Contains(s, "A100"):
		if strings.Contains(s, "80G") || memGB >= 60 {
			return "A100 80GB"
		}
		return "A100 40GB"
	}
	if m := reAda.FindStringSubmatch(s); m != nil {
		return "RTX " + m[1] + " Ada"
	}
	if m := reAmpereW.FindStringSubmatch(s); m != nil {
		return "RTX A" + m[1]
	}
	if m := reGeForce.FindStringSubmatch(s); m != nil {
		out := m[1] + " " + m[2]
		if m[3] != "" {
			out += " Ti"
		}
		if m[4] != "" {
			out += " Super"
		}
		return out
	}
	if m := reDataCtr.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return raw
}

// dropInvisible drops control and format characters (tabs and line breaks
// become spaces).
func dropInvisible(r rune) rune {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return ' '
	case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
		return -1
	}
	return r
}

// ParseGPU reads the model and GPU count of a machine from specs.gpu ("2x
// NVIDIA GeForce RTX 5090"), falling back on gpu_array (one entry per GPU,
// often with a leading space) when specs.gpu is empty.
func ParseGPU(specsGPU string, gpuArray []string, memGB float64) (model string, count int) {
	name := strings.TrimSpace(specsGPU)
	if m := reCount.FindStringSubmatch(name); m != nil {
		count, _ = strconv.Atoi(m[1])
		name = m[2]
	}
	if name == "" && len(gpuArray) > 0 {
		name = gpuArray[0]
	}
	if count <= 0 {
		count = len(gpuArray)
	}
	if count <= 0 {
		count = 1
	}
	return CanonicalGPU(name, memGB), count
}
