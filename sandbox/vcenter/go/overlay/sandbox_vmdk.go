// vCenter sandbox overlay: streamOptimized VMDK generator.
//
// This file is compiled INTO github.com/vmware/govmomi/simulator through
// `go build -overlay` (see sandbox/vcenter/build.sh); it is not a copy of any
// library file. Identifiers are prefixed with "sbx" to stay clear of the
// library's own names.
//
// Layout written (VMware "Virtual Disk Format 5.0", stream-optimized sparse
// extent, all offsets in 512-byte sectors):
//
//	sector 0         sparse extent header, gdOffset = GD_AT_END
//	sector 1..       embedded descriptor (createType="streamOptimized")
//	.. overHead      zero padding up to the first grain (overHead = 128)
//	per grain table: [grain marker + zlib grain]* , GT marker, GT (4 sectors)
//	GD marker, GD, footer marker, footer (header copy with real gdOffset), EOS
//
// Grains are zlib streams made of *stored* deflate blocks, so their size is
// known up front and the Content-Length can be computed without generating
// the data. Grain content = 16-byte per-grain header (grain index, disk seed)
// followed by one of a few pseudo-random base buffers; the Adler-32 of each
// grain is derived from a precomputed checksum with adler32 "combine", so no
// per-byte work is done per grain beyond memmove.
package simulator

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"math/rand"
)

const (
	sbxSectorSize       = 512
	sbxGrainSectors     = 128 // 64 KiB grains
	sbxGrainBytes       = sbxGrainSectors * sbxSectorSize
	sbxGTEsPerGT        = 512
	sbxGTSectors        = sbxGTEsPerGT * 4 / sbxSectorSize // 4
	sbxOverheadSectors  = 128
	sbxStoredBlock      = sbxGrainBytes / 2 // two stored deflate blocks per grain
	sbxGrainHeaderBytes = 16
	// zlib header (2) + 2 x (stored block header 5 + data) + adler32 (4)
	sbxGrainPayload       = 2 + 2*(5+sbxStoredBlock) + 4
	sbxGrainRecordSectors = (12 + sbxGrainPayload + sbxSectorSize - 1) / sbxSectorSize
	sbxGrainRecordBytes   = sbxGrainRecordSectors * sbxSectorSize
	sbxNumBases           = 4
	sbxPPM                = 1000000
	sbxMarkerGT           = 1
	sbxMarkerGD           = 2
	sbxMarkerFooter       = 3
	sbxGDAtEnd            = ^uint64(0)
	sbxAdlerBase          = 65521
)

// sbxVmdk describes one streamOptimized disk image. It is immutable once built.
type sbxVmdk struct {
	capacityBytes   int64
	capacitySectors int64
	numGrains       int64
	numGTs          int64
	usedPPM         int64 // grains present, parts per million (evenly spread)
	seed            uint64
	descriptor      []byte
	descSectors     int64
	size            int64 // exact stream length in bytes
}

// sbxNewVmdk computes the layout (and exact size) of the stream for a disk.
func sbxNewVmdk(capacityBytes int64, usedFraction float64, seed uint64, adapterType string) *sbxVmdk {
	if capacityBytes < sbxSectorSize {
		capacityBytes = sbxSectorSize
	}
	v := &sbxVmdk{capacityBytes: capacityBytes, seed: seed}
	v.capacitySectors = (capacityBytes + sbxSectorSize - 1) / sbxSectorSize
	v.numGrains = (v.capacitySectors + sbxGrainSectors - 1) / sbxGrainSectors
	v.numGTs = (v.numGrains + sbxGTEsPerGT - 1) / sbxGTEsPerGT
	if usedFraction < 0 {
		usedFraction = 0
	}
	if usedFraction > 1 {
		usedFraction = 1
	}
	v.usedPPM = int64(usedFraction*sbxPPM + 0.5)
	v.descriptor = v.buildDescriptor(adapterType)
	v.descSectors = int64(len(v.descriptor)+sbxSectorSize-1) / sbxSectorSize
	v.size = v.computeSize()
	return v
}

func (v *sbxVmdk) buildDescriptor(adapterType string) []byte {
	if adapterType == "" {
		adapterType = "lsilogic"
	}
	cyl := v.capacitySectors / (255 * 63)
	if cyl > 65535 {
		cyl = 65535
	}
	if cyl < 1 {
		cyl = 1
	}
	cid := uint32(v.seed) | 1
	return []byte(fmt.Sprintf(`# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=%08x
parentCID=ffffffff
createType="streamOptimized"

# Extent description
RW %d SPARSE "disk.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "%s"
ddb.geometry.cylinders = "%d"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "%016x%08x%08x"
ddb.toolsInstallType = "4"
ddb.toolsVersion = "12352"
ddb.virtualHWVersion = "14"
`, cid, v.capacitySectors, adapterType, cyl, v.seed, cid, uint32(v.capacitySectors)))
}

// grainPresent spreads round(numGrains*fraction) present grains evenly.
func (v *sbxVmdk) grainPresent(i int64) bool {
	return ((i+1)*v.usedPPM)/sbxPPM > (i*v.usedPPM)/sbxPPM
}

// presentIn counts present grains in [a, b).
func (v *sbxVmdk) presentIn(a, b int64) int64 {
	return (b*v.usedPPM)/sbxPPM - (a*v.usedPPM)/sbxPPM
}

func (v *sbxVmdk) gtRange(g int64) (int64, int64) {
	a := g * sbxGTEsPerGT
	b := a + sbxGTEsPerGT
	if b > v.numGrains {
		b = v.numGrains
	}
	return a, b
}

func (v *sbxVmdk) gdSectors() int64 {
	return (v.numGTs*4 + sbxSectorSize - 1) / sbxSectorSize
}

func (v *sbxVmdk) computeSize() int64 {
	sectors := int64(sbxOverheadSectors)
	for g := int64(0); g < v.numGTs; g++ {
		a, b := v.gtRange(g)
		n := v.presentIn(a, b)
		sectors += n * sbxGrainRecordSectors
		if n > 0 {
			sectors += 1 + sbxGTSectors
		}
	}
	sectors += 1 + v.gdSectors() // GD marker + GD
	sectors += 3                 // footer marker, footer, end-of-stream marker
	return sectors * sbxSectorSize
}

// header renders the 512-byte sparse extent header.
func (v *sbxVmdk) header(gdOffset uint64) []byte {
	h := make([]byte, sbxSectorSize)
	le := binary.LittleEndian
	copy(h[0:4], "KDMV")                            // magic 0x564d444b little endian
	le.PutUint32(h[4:], 3)                          // version
	le.PutUint32(h[8:], 1|1<<16|1<<17)              // newline test, compressed grains, markers
	le.PutUint64(h[12:], uint64(v.capacitySectors)) // capacity
	le.PutUint64(h[20:], sbxGrainSectors)           // grainSize
	le.PutUint64(h[28:], 1)                         // descriptorOffset
	le.PutUint64(h[36:], uint64(v.descSectors))     // descriptorSize
	le.PutUint32(h[44:], sbxGTEsPerGT)              // numGTEsPerGT
	le.PutUint64(h[48:], 0)                         // rgdOffset
	le.PutUint64(h[56:], gdOffset)                  // gdOffset
	le.PutUint64(h[64:], sbxOverheadSectors)        // overHead
	h[72] = 0                                       // uncleanShutdown
	h[73] = '\n'
	h[74] = ' '
	h[75] = '\r'
	h[76] = '\n'
	le.PutUint16(h[77:], 1) // compressAlgorithm: deflate
	return h
}

func sbxAdlerCombine(a1, a2 uint32, len2 int64) uint32 {
	rem := uint32(len2 % sbxAdlerBase)
	sum1 := a1 & 0xffff
	sum2 := (rem * sum1) % sbxAdlerBase
	sum1 += (a2 & 0xffff) + sbxAdlerBase - 1
	sum2 += (a1 >> 16) + (a2 >> 16) + sbxAdlerBase - rem
	for sum1 >= sbxAdlerBase {
		sum1 -= sbxAdlerBase
	}
	for sum2 >= sbxAdlerBase {
		sum2 -= sbxAdlerBase
	}
	return sum1 | sum2<<16
}

// sbxChunkWriter batches writes into a fixed buffer and hands full chunks to w.
type sbxChunkWriter struct {
	w   io.Writer
	buf []byte
	n   int
	off int64 // bytes handed to w so far + buffered
}

func (c *sbxChunkWriter) flush() error {
	if c.n == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf[:c.n])
	c.n = 0
	return err
}

// reserve returns a slice of n bytes in the buffer (n <= len(buf)), zeroed
// when zero is set (otherwise the caller overwrites every byte).
func (c *sbxChunkWriter) reserve(n int, zero bool) ([]byte, error) {
	if c.n+n > len(c.buf) {
		if err := c.flush(); err != nil {
			return nil, err
		}
		if n > len(c.buf) {
			c.buf = make([]byte, n)
		}
	}
	b := c.buf[c.n : c.n+n]
	if zero {
		for i := range b {
			b[i] = 0
		}
	}
	c.n += n
	c.off += int64(n)
	return b, nil
}

func (c *sbxChunkWriter) sector() uint32 { return uint32(c.off / sbxSectorSize) }

// WriteTo streams the whole image to w. It returns the number of bytes produced.
func (v *sbxVmdk) WriteTo(w io.Writer) (int64, error) {
	le := binary.LittleEndian
	bases := make([][]byte, sbxNumBases)
	tailAdler := make([]uint32, sbxNumBases)
	rng := rand.New(rand.NewSource(int64(v.seed)))
	for k := range bases {
		bases[k] = make([]byte, sbxGrainBytes)
		_, _ = rng.Read(bases[k])
		tailAdler[k] = adler32.Checksum(bases[k][sbxGrainHeaderBytes:])
	}

	cw := &sbxChunkWriter{w: w, buf: make([]byte, 16*sbxGrainRecordBytes)}

	// header, descriptor, padding up to overHead
	b, err := cw.reserve(sbxOverheadSectors*sbxSectorSize, true)
	if err != nil {
		return cw.off, err
	}
	copy(b, v.header(sbxGDAtEnd))
	copy(b[sbxSectorSize:], v.descriptor)

	gd := make([]uint32, v.numGTs)
	gt := make([]uint32, sbxGTEsPerGT)
	var hdr [sbxGrainHeaderBytes]byte

	for g := int64(0); g < v.numGTs; g++ {
		a, e := v.gtRange(g)
		for i := range gt {
			gt[i] = 0
		}
		any := false
		for i := a; i < e; i++ {
			if !v.grainPresent(i) {
				continue
			}
			any = true
			gt[i-a] = cw.sector()
			rec, err := cw.reserve(sbxGrainRecordBytes, false)
			if err != nil {
				return cw.off, err
			}
			k := int((uint64(i) * 0x9E3779B97F4A7C15) >> 62)
			base := bases[k]
			le.PutUint64(hdr[0:], uint64(i))
			le.PutUint64(hdr[8:], v.seed)
			sum := sbxAdlerCombine(adler32.Checksum(hdr[:]), tailAdler[k], sbxGrainBytes-sbxGrainHeaderBytes)

			le.PutUint64(rec[0:], uint64(i*sbxGrainSectors)) // marker: LBA
			le.PutUint32(rec[8:], sbxGrainPayload)           // marker: compressed size
			p := rec[12:]
			p[0], p[1] = 0x78, 0x01 // zlib header: deflate, 32K window, no dict
			p = p[2:]
			// stored block 1 (not final)
			p[0] = 0x00
			le.PutUint16(p[1:], sbxStoredBlock)
			le.PutUint16(p[3:], ^uint16(sbxStoredBlock))
			copy(p[5:], hdr[:])
			copy(p[5+sbxGrainHeaderBytes:], base[sbxGrainHeaderBytes:sbxStoredBlock])
			p = p[5+sbxStoredBlock:]
			// stored block 2 (final)
			p[0] = 0x01
			le.PutUint16(p[1:], sbxStoredBlock)
			le.PutUint16(p[3:], ^uint16(sbxStoredBlock))
			copy(p[5:], base[sbxStoredBlock:])
			p = p[5+sbxStoredBlock:]
			binary.BigEndian.PutUint32(p, sum)
			for j := 4; j < len(p); j++ { // sector padding
				p[j] = 0
			}
		}
		if !any {
			continue
		}
		m, err := cw.reserve(sbxSectorSize*(1+sbxGTSectors), true)
		if err != nil {
			return cw.off, err
		}
		le.PutUint64(m[0:], sbxGTSectors)
		le.PutUint32(m[12:], sbxMarkerGT)
		gd[g] = cw.sector() - sbxGTSectors
		for i, off := range gt {
			le.PutUint32(m[sbxSectorSize+4*i:], off)
		}
	}

	gds := v.gdSectors()
	m, err := cw.reserve(int(sbxSectorSize*(1+gds)), true)
	if err != nil {
		return cw.off, err
	}
	le.PutUint64(m[0:], uint64(gds))
	le.PutUint32(m[12:], sbxMarkerGD)
	gdOffset := cw.sector() - uint32(gds)
	for i, off := range gd {
		le.PutUint32(m[sbxSectorSize+4*i:], off)
	}

	f, err := cw.reserve(3*sbxSectorSize, true)
	if err != nil {
		return cw.off, err
	}
	le.PutUint64(f[0:], 1)
	le.PutUint32(f[12:], sbxMarkerFooter)
	copy(f[sbxSectorSize:], v.header(uint64(gdOffset)))
	// last sector: end-of-stream marker, all zero

	if err := cw.flush(); err != nil {
		return cw.off, err
	}
	return cw.off, nil
}
