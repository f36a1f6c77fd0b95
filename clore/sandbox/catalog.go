package sandbox

// Currency identifiers exactly as the Clore API spells them.
const (
	currencyBTC   = "bitcoin"
	currencyCLORE = "CLORE-Blockchain"
	currencyUSD   = "USD-Blockchain"
)

// Fixed exchange rates used to convert USD prices into the other currencies.
// They are deliberately not round so that price.usd equivalents look like the
// real ones (10.0084 for a 10 USD server).
const (
	usdPerBTC   = 64063.5
	usdPerCLORE = 0.0012497
)

// creationFeeUSD is the one-time fee charged per order, observed as 0.1 USD.
const creationFeeUSD = 0.1

// hostClass decides the kind of machine a GPU usually sits in: CPU,
// motherboard, RAM, disk and PCIe link width.
type hostClass int

const (
	classMining hostClass = iota
	classConsumer
	classWorkstation
	classDatacenter
)

// gpuModel is one marketplace GPU model with its realistic per-GPU price.
type gpuModel struct {
	name    string  // nvidia-smi product name
	memGB   float64 // specs.gpuram
	usdDay  float64 // typical USD/day for one GPU
	minUSD  float64 // per-GPU clamp
	maxUSD  float64
	weight  float64 // share of the marketplace
	pcieGen int
	arch    string // selects CUDA versions
	classes []hostClass
	mixed   bool // "Nx Mixed GPUs" servers
}

// gpuCatalog returns the GPU models of the simulated marketplace. It is a
// function rather than a package variable so that no global state exists.
func gpuCatalog() []gpuModel {
	miningOrConsumer := []hostClass{classMining, classConsumer, classConsumer}
	consumerOrWS := []hostClass{classConsumer, classConsumer, classConsumer, classWorkstation}
	workstation := []hostClass{classWorkstation}
	datacenter := []hostClass{classDatacenter}
	return []gpuModel{
		{"NVIDIA GeForce GTX 1070", 8, 0.5, 0.3, 0.9, 3, 3, "pascal", miningOrConsumer, false},
		{"NVIDIA GeForce GTX 1080 Ti", 11, 0.7, 0.4, 1.1, 4, 3, "pascal", miningOrConsumer, false},
		{"NVIDIA GeForce RTX 2080 Ti", 11, 1.0, 0.6, 1.6, 3, 3, "turing", miningOrConsumer, false},
		{"NVIDIA GeForce RTX 3060", 12, 1.2, 0.7, 1.8, 8, 4, "ampere", miningOrConsumer, false},
		{"NVIDIA GeForce RTX 3060 Ti", 8, 1.3, 0.8, 1.9, 5, 4, "ampere", miningOrConsumer, false},
		{"NVIDIA GeForce RTX 3070", 8, 1.6, 1.0, 2.4, 8, 4, "ampere", miningOrConsumer, false},
		{"NVIDIA GeForce RTX 3080", 10, 2.2, 1.4, 3.2, 7, 4, "ampere", miningOrConsumer, false},
		{"NVIDIA GeForce RTX 3090", 24, 3.0, 2.0, 5.0, 12, 4, "ampere", consumerOrWS, false},
		{"NVIDIA GeForce RTX 4060 Ti", 16, 1.5, 1.0, 2.2, 3, 4, "ada", consumerOrWS, false},
		{"NVIDIA GeForce RTX 4070", 12, 2.5, 1.6, 3.5, 4, 4, "ada", consumerOrWS, false},
		{"NVIDIA GeForce RTX 4070 Ti", 12, 3.0, 2.0, 4.2, 3, 4, "ada", consumerOrWS, false},
		{"NVIDIA GeForce RTX 4080", 16, 4.5, 3.0, 6.5, 4, 4, "ada", consumerOrWS, false},
		{"NVIDIA GeForce RTX 4090", 24, 8.0, 6.0, 12.0, 14, 4, "ada", consumerOrWS, false},
		{"NVIDIA GeForce RTX 5070 Ti", 16, 4.0, 2.8, 5.5, 3, 5, "blackwell", consumerOrWS, false},
		{"NVIDIA GeForce RTX 5080", 16, 6.0, 4.0, 8.0, 4, 5, "blackwell", consumerOrWS, false},
		{"NVIDIA GeForce RTX 5090", 31, 14.0, 10.0, 20.0, 10, 5, "blackwell", consumerOrWS, false},
		{"NVIDIA GeForce RTX 5090 Laptop GPU", 23, 6.0, 4.0, 8.0, 0.3, 4, "blackwell", []hostClass{classConsumer}, false},
		{"NVIDIA RTX A4000", 16, 1.8, 1.2, 2.6, 2, 4, "ampere", workstation, false},
		{"NVIDIA RTX A5000", 24, 3.0, 2.0, 4.2, 2, 4, "ampere", workstation, false},
		{"NVIDIA RTX A6000", 48, 6.0, 4.5, 8.5, 2, 4, "ampere", workstation, false},
		{"NVIDIA RTX 6000 Ada Generation", 48, 12.0, 9.0, 16.0, 1, 4, "ada", workstation, false},
		{"NVIDIA L4", 22, 3.0, 2.2, 4.2, 1, 4, "ada", datacenter, false},
		{"NVIDIA L40S", 45, 14.0, 10.0, 19.0, 1, 4, "ada", datacenter, false},
		{"NVIDIA A40", 45, 8.0, 6.0, 11.0, 1, 4, "ampere", datacenter, false},
		{"NVIDIA A100-PCIE-40GB", 40, 14.0, 10.0, 19.0, 1, 4, "ampere", datacenter, false},
		{"NVIDIA A100 80GB PCIe", 80, 20.0, 15.0, 27.0, 1, 4, "ampere", datacenter, false},
		{"NVIDIA A100-SXM4-80GB", 80, 22.0, 16.0, 30.0, 0.5, 4, "ampere", datacenter, false},
		{"NVIDIA H100 PCIe", 79, 40.0, 30.0, 52.0, 0.5, 5, "hopper", datacenter, false},
		{"NVIDIA H100 80GB HBM3", 79, 55.0, 42.0, 70.0, 0.5, 5, "hopper", datacenter, false},
		{"Mixed GPUs", 8, 1.4, 0.7, 2.2, 2, 3, "ampere", []hostClass{classMining}, true},
	}
}

// gpuArrayName turns an nvidia-smi product name into a gpu_array entry the way
// Clore does: the vendor prefix is cut off and the leading space stays.
func gpuArrayName(product string) string {
	for _, prefix := range []string{"NVIDIA GeForce", "NVIDIA"} {
		if len(product) > len(prefix) && product[:len(prefix)] == prefix {
			return product[len(prefix):]
		}
	}
	return " " + product
}

// cpuChoice is a CPU string with its "cores/threads" value.
type cpuChoice struct {
	name string
	cpus string
}

// hostParts lists the hardware a host class is built from.
type hostParts struct {
	cpus    []cpuChoice
	boards  []string
	ramGB   []float64
	disks   []string
	widths  []int
	counts  []int // GPU counts, repeated entries weight them
	pcieMax int
}

// partsFor returns the hardware pool of a host class.
func partsFor(c hostClass) hostParts {
	switch c {
	case classMining:
		return miningParts()
	case classWorkstation:
		return workstationParts()
	case classDatacenter:
		return datacenterParts()
	default:
		return consumerParts()
	}
}

// miningParts is the hardware of converted mining rigs (PCIe x1 risers).
func miningParts() hostParts {
	return hostParts{
		cpus: []cpuChoice{
			{"Intel(R) Celeron(R) CPU G3930 @ 2.90GHz", "2/2"},
			{"Intel(R) Pentium(R) CPU G4560 @ 3.50GHz", "2/4"},
			{"Intel(R) Core(TM) i3-9100F CPU @ 3.60GHz", "4/4"},
			{"AMD Ryzen 5 3600 6-Core Processor", "6/12"},
		},
		boards:  []string{"B250 MINING EXPERT", "H110 PRO BTC+", "TB360-BTC PRO", "B365M PRO4"},
		ramGB:   []float64{8, 16, 16, 32},
		disks:   []string{"KINGSTON SA400S37240G", "ADATA SU650", "Samsung SSD 870 EVO 500GB"},
		widths:  []int{1, 1, 1, 4},
		counts:  []int{1, 1, 1, 2, 4, 6, 6, 8},
		pcieMax: 3,
	}
}

// workstationParts is the hardware of workstations and old dual-Xeon boxes.
func workstationParts() hostParts {
	return hostParts{
		cpus: []cpuChoice{
			{"AMD Ryzen Threadripper PRO 5975WX 32-Cores", "32/64"},
			{"AMD Ryzen Threadripper 3960X 24-Core Processor", "24/48"},
			{"Intel(R) Xeon(R) CPU E5-2699C v4 @ 2.20GHz", "44/88"},
			{"Intel(R) Xeon(R) w5-3435X", "16/32"},
		},
		boards:  []string{"WRX80 Creator", "TRX40 AORUS PRO WIFI", "2129", "X99-F8D", "Pro WS W790-ACE"},
		ramGB:   []float64{128, 128, 256, 512},
		disks:   []string{"Samsung SSD 990 PRO 2TB", "WDS200T3X0C-00SJG0", "2320"},
		widths:  []int{16, 16, 8},
		counts:  []int{1, 1, 2, 2, 4, 4, 8},
		pcieMax: 4,
	}
}

// datacenterParts is the hardware of server-grade GPU nodes.
func datacenterParts() hostParts {
	return hostParts{
		cpus: []cpuChoice{
			{"AMD EPYC 7742 64-Core Processor", "128/256"},
			{"AMD EPYC 7543 32-Core Processor", "64/128"},
			{"Intel(R) Xeon(R) Platinum 8480+", "112/224"},
			{"AMD EPYC 9354 32-Core Processor", "64/128"},
		},
		boards:  []string{"H12DSi-N6", "ROMED8-2T", "MZ32-AR0-00", "X13DEG-OAD"},
		ramGB:   []float64{256, 512, 1024, 2048},
		disks:   []string{"SAMSUNG MZQL23T8HCLS-00A07", "INTEL SSDPF2KX038TZ", "Micron_7450_MTFDKCC3T8TFR"},
		widths:  []int{16},
		counts:  []int{1, 1, 2, 4, 8, 8},
		pcieMax: 5,
	}
}

// consumerParts is the hardware of gaming PCs.
func consumerParts() hostParts {
	return hostParts{
		cpus: []cpuChoice{
			{"AMD Ryzen 9 7950X 16-Core Processor", "16/32"},
			{"AMD Ryzen 9 5950X 16-Core Processor", "16/32"},
			{"AMD Ryzen 7 5700X 8-Core Processor", "8/16"},
			{"Intel(R) Core(TM) i9-13900K", "24/32"},
			{"Intel(R) Core(TM) i7-12700K", "12/20"},
			{"Intel(R) Core(TM) i5-10400F CPU @ 2.90GHz", "6/12"},
		},
		boards:  []string{"Z590 GAMING X", "PRIME B550-PLUS", "ROG STRIX X670E-E GAMING WIFI", "MAG B660M MORTAR WIFI DDR4", "X570 AORUS ELITE"},
		ramGB:   []float64{32, 64, 64, 128},
		disks:   []string{"Samsung SSD 980 1TB", "CT1000P3SSD8", "WD_BLACK SN770 1TB", "KINGSTON SNV2S1000G"},
		widths:  []int{16, 16, 16, 8},
		counts:  []int{1, 1, 1, 1, 1, 2, 2, 4},
		pcieMax: 5,
	}
}

// cudaVersionsFor lists plausible driver CUDA versions for an architecture.
func cudaVersionsFor(arch string) []string {
	if arch == "blackwell" {
		return []string{"12.8", "12.8", "12.9", "13.0"}
	}
	return []string{"11.8", "12.2", "12.4", "12.4", "12.6", "12.8", "13.0"}
}

// countryWeight is a host country with its share of hosts.
type countryWeight struct {
	cc     string
	weight float64
}

// hostCountries returns host countries weighted roughly like Clore's fleet.
func hostCountries() []countryWeight {
	return []countryWeight{
		{"US", 18}, {"RU", 10}, {"DE", 8}, {"PL", 6}, {"UA", 5}, {"CZ", 5}, {"CA", 5},
		{"TW", 5}, {"VN", 5}, {"HK", 3}, {"GB", 3}, {"NL", 3}, {"FR", 3}, {"JP", 3},
		{"KR", 3}, {"BR", 3}, {"RO", 3}, {"FI", 2}, {"SE", 2}, {"TH", 2}, {"KZ", 2},
		{"ES", 2}, {"IT", 2}, {"AU", 1},
	}
}
