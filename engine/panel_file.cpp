// HDF5 output (DESIGN §6): the only translation unit that includes hdf5.h.
//
// Layout of the writer: every hid_t lives in an RAII Hid, every HDF5 call goes through
// check()/make() (a negative return becomes InternalError naming the call and HDF5's
// innermost error message; HDF5's own error printing is switched off). Panels are 1-D
// extendible, chunked, shuffled + deflated column datasets; append() extends every column
// and each rank writes its rows as one hyperslab at its offset (exclusive prefix sum of the
// ranks' row counts), collectively through MPI-IO. Variable-length strings cannot go through
// MPI-IO in HDF5 1.10, so string datasets are created collectively (keeping creation order)
// and their data is written by rank 0 in commit(), after the parallel handle is closed.
// Rank-dependent failures (a rank's own rows) are agreed on before any collective HDF5 call,
// so every rank throws instead of some ranks waiting forever.
#include "engine/panel_file.hpp"

#include <dlfcn.h>  // dlsym: H5Z_find (the shuffle filter below)
#include <fcntl.h>  // AT_FDCWD for renameat2
#include <hdf5.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/errors.hpp"

// ----- zlib's compress2, faster at level 1 --------------------------------------------
//
// HDF5's deflate filter compresses each chunk with zlib's compress2. At level 1 (the
// default) that was most of a large run's output time: the shuffled bytes of continuous
// f64 values are largely random, and zlib searches them for matches in vain (≈ 60 MB/s per
// core here). HDF5 cannot be given another compressor for its deflate filter (H5Zregister
// refuses to replace it), so this binary defines compress2 itself — HDF5 calls it through
// the dynamic linker (libhdf5 takes compress2 from whichever object defines it first: the
// executable) — and writes the same format, a zlib stream that any inflate reads, choosing
// per 16 KiB block how to encode it: a single repeated byte as one fixed-Huffman block of
// copies, near-random bytes as stored blocks (a copy), runs of one byte inside a block and
// bytes spread over a few values (a double's exponent byte) by our own run coder (literals
// and distance-1 copies under the block's own Huffman code; zlib's run-length strategy only
// if that fails), sequences (ids, counters) with ordinary level-1 matching. On the
// million-firm panel's chunks this is many times faster than zlib at level 1 (≈ 600 MB/s a
// core here), the output slightly smaller and as fast to inflate. Other levels, and anything
// that would not fit the caller's buffer, go through zlib's own deflate exactly as compress2
// does.
//
// The level-1 stream is framed by hand, as pigz does: the zlib header, then per run of
// blocks of one kind a byte-aligned, non-final piece (stored blocks; a fixed-Huffman block
// of copies; a dynamic-Huffman block of literals and copies; a raw zlib deflate ended by a sync flush),
// then an empty final stored block and the Adler-32 of the input.
namespace {

constexpr std::size_t kDeflateBlock = 16384;
enum class BlockCoding : unsigned char { constant, stored, runs, match };

// From every 4th byte of a block: order-0 entropy (bits/byte) of the bytes and of their
// successive differences. Cheap, and close enough to choose an encoding.
BlockCoding choose_coding(const unsigned char* p, std::size_t n) {
  if (std::memcmp(p, p + 1, n - 1) == 0) return BlockCoding::constant;  // every byte equals the next
  std::array<std::uint32_t, 256> bytes{}, steps{};
  std::uint32_t m = 0;
  for (std::size_t i = 1; i < n; i += 4, ++m) {
    ++bytes[p[i]];
    ++steps[static_cast<unsigned char>(p[i] - p[i - 1])];
  }
  if (m == 0) return BlockCoding::runs;
  // H = log2(m) − Σ c·log2(c) / m, with c·log2(c) from a table (a block samples ≤ 4,096 bytes).
  static const std::array<double, kDeflateBlock / 4 + 1> c_log_c = [] {
    std::array<double, kDeflateBlock / 4 + 1> t{};
    for (std::size_t c = 1; c < t.size(); ++c) t[c] = static_cast<double>(c) * std::log2(static_cast<double>(c));
    return t;
  }();
  const double log_m = std::log2(static_cast<double>(m));
  auto entropy = [&](const std::array<std::uint32_t, 256>& h) {
    double sum = 0.0;
    for (const auto c : h) sum += c_log_c[c];
    return log_m - sum / m;
  };
  const double h0 = entropy(bytes), h1 = entropy(steps);
  if (std::min(h0, h1) > 7.5) return BlockCoding::stored;  // Huffman coding would save < 6%
  // Regular steps (0, 1, 2, … or cycles: most steps the same nonzero one) are sequences for
  // zlib's matching. Runs of one byte (most steps 0) and bytes spread over a few values go to
  // our own run coder, which codes them as well as zlib and faster.
  if (h1 + 1.0 < h0 && 2 * *std::max_element(steps.begin() + 1, steps.end()) > m) return BlockCoding::match;
  return BlockCoding::runs;  // runs of one byte and bytes spread over a few values (an exponent)
}

// The caller's buffer, filled from the front; every write fails (false) once it is full.
class Output {
 public:
  Output(unsigned char* data, std::size_t capacity) : data_(data), capacity_(capacity) {}
  std::size_t size() const { return size_; }
  std::size_t room() const { return capacity_ - size_; }
  unsigned char* end() { return data_ + size_; }
  void advance(std::size_t n) { size_ += n; }
  void rewind(std::size_t size) { size_ = size; }
  bool put(unsigned char b) {
    if (size_ == capacity_) return false;
    data_[size_++] = b;
    return true;
  }
  bool put(const unsigned char* p, std::size_t n) {
    if (n > room()) return false;
    if (n > 0) std::memcpy(data_ + size_, p, n);
    size_ += n;
    return true;
  }

 private:
  unsigned char* data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
};

class RawDeflate {  // level 1, raw (no zlib header), one strategy; set up when first used
 public:
  explicit RawDeflate(int strategy) : strategy_(strategy) {}
  ~RawDeflate() {
    if (state_ == State::ready) deflateEnd(&z_);
  }
  RawDeflate(const RawDeflate&) = delete;
  RawDeflate& operator=(const RawDeflate&) = delete;
  // in[0, n) as a raw deflate piece ended by a sync flush; false on a zlib error or if it does
  // not fit.
  bool piece(const unsigned char* in, std::size_t n, Output& out) {
    if (state_ == State::unused)
      state_ = deflateInit2(&z_, 1, Z_DEFLATED, -15, 8, strategy_) == Z_OK ? State::ready : State::failed;
    if (state_ != State::ready || deflateReset(&z_) != Z_OK) return false;
    constexpr std::size_t kMax = std::numeric_limits<uInt>::max();
    if (n > kMax) return false;
    z_.next_in = const_cast<unsigned char*>(in);
    z_.avail_in = static_cast<uInt>(n);
    z_.next_out = out.end();
    z_.avail_out = static_cast<uInt>(std::min(out.room(), kMax));
    const uInt room = z_.avail_out;
    const int rc = deflate(&z_, Z_SYNC_FLUSH);
    out.advance(room - z_.avail_out);
    // Done when all input is taken and output space is left (else the flush may be unfinished).
    return (rc == Z_OK || rc == Z_BUF_ERROR) && z_.avail_in == 0 && z_.avail_out > 0;
  }

 private:
  enum class State : unsigned char { unused, ready, failed };
  int strategy_;
  State state_ = State::unused;
  z_stream z_{};
};

// Adler-32 (RFC 1950) kept as its two sums, so that a run of one byte is added in O(1).
class Adler {
 public:
  void add(const unsigned char* p, std::size_t n) {
#if defined(__SSE2__)
    // 16 bytes a step (zlib's adler32 here takes one): the byte sums by PSADBW, the sums
    // weighted by position (16, 15, …, 1: how often each byte enters b) by PMADDWD, reduced
    // mod 65521 every 5,536 bytes, before a 32-bit lane could overflow.
    constexpr std::size_t kStep = 16, kSteps = 5552 / kStep;
    const __m128i zero = _mm_setzero_si128();
    const __m128i w_lo = _mm_setr_epi16(16, 15, 14, 13, 12, 11, 10, 9), w_hi = _mm_setr_epi16(8, 7, 6, 5, 4, 3, 2, 1);
    auto lanes = [](__m128i v) {
      alignas(16) std::uint32_t x[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(x), v);
      return std::uint64_t{x[0]} + x[1] + x[2] + x[3];
    };
    while (n >= kStep) {
      const std::size_t steps = std::min(n / kStep, kSteps);
      n -= steps * kStep;
      __m128i s1 = zero, before = zero, s2 = zero;  // Σ bytes, Σ over steps of the Σ before, Σ weighted
      for (std::size_t k = 0; k < steps; ++k, p += kStep) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        before = _mm_add_epi32(before, s1);
        s1 = _mm_add_epi32(s1, _mm_sad_epu8(bytes, zero));
        s2 = _mm_add_epi32(s2, _mm_madd_epi16(_mm_unpacklo_epi8(bytes, zero), w_lo));
        s2 = _mm_add_epi32(s2, _mm_madd_epi16(_mm_unpackhi_epi8(bytes, zero), w_hi));
      }
      b_ = (b_ + steps * kStep * a_ + kStep * lanes(before) + lanes(s2)) % kMod;
      a_ = (a_ + lanes(s1)) % kMod;
    }
    for (; n > 0; --n, ++p) {
      a_ = (a_ + *p) % kMod;
      b_ = (b_ + a_) % kMod;
    }
#else
    for (std::size_t at = 0; at < n; at += 1u << 30) {  // zlib's adler32 takes uInt lengths
      const uLong v = adler32((b_ << 16) | a_, p + at, static_cast<uInt>(std::min<std::size_t>(n - at, 1u << 30)));
      a_ = v & 0xffff;
      b_ = v >> 16;
    }
#endif
  }
  void add_run(unsigned char c, std::size_t n) {  // a += n·c; b += n·a + c·n(n+1)/2 (mod 65521)
    const std::uint64_t nm = n % kMod;
    const std::uint64_t tri = (static_cast<std::uint64_t>(n % (2 * kMod)) * ((n + 1) % (2 * kMod)) / 2) % kMod;
    b_ = (b_ + nm * a_ + c * tri) % kMod;
    a_ = (a_ + nm * c) % kMod;
  }
  uLong value() const { return (b_ << 16) | a_; }

 private:
  static constexpr std::uint64_t kMod = 65521;
  uLong a_ = 1, b_ = 0;
};

// `len` (≥ 1) copies of byte c as one fixed-Huffman block ended by an empty stored block, as a
// sync flush ends it (RFC 1951 3.2.5–3.2.6): 258 literals, then copies of the 258 bytes before
// (a distance of 1 would be as short, but makes inflate copy byte after dependent byte, twice
// as slow to read), the rest as literals. A chunk's constant byte planes (zeros, a period, a
// status) are most of its bytes; zlib's run-length search took a third of the time on them.
bool constant_piece(unsigned char c, std::size_t len, Output& out) {
  std::uint64_t bits = 0;
  int count = 0;
  bool ok = true;
  auto put = [&](std::uint32_t v, int n) {  // n bits of v, least significant first
    bits |= static_cast<std::uint64_t>(v) << count;
    count += n;
    for (; count >= 8; count -= 8, bits >>= 8) ok = out.put(static_cast<unsigned char>(bits)) && ok;
  };
  auto code = [&](std::uint32_t v, int n) {  // a Huffman code, most significant bit first
    std::uint32_t r = 0;
    for (int i = 0; i < n; ++i) r |= ((v >> i) & 1u) << (n - 1 - i);
    put(r, n);
  };
  auto literal = [&] {
    if (c < 144)
      code(0x30u + c, 8);
    else
      code(0x190u + (c - 144u), 9);
  };
  if (out.room() < len / 258 * 3 + 600) return false;  // 20 bits a copy, ≤ 515 literals
  put(0, 1);  // not the final block
  put(1, 2);  // fixed Huffman codes
  std::size_t left = len;
  for (; left > 0 && len - left < 258; --left) literal();
  for (; left >= 258; left -= 258) {
    code(0xC5, 8);  // length code 285: 258 bytes
    code(16, 5);    // distance code 16 (257–384) ...
    put(1, 7);      // ... + 1: 258 bytes back
  }
  for (; left > 0; --left) literal();
  code(0, 7);  // end of block
  put(0, 3);   // an empty stored block, not final, padded to the byte
  if (count > 0) put(0, 8 - count);
  static constexpr unsigned char kLen[] = {0x00, 0x00, 0xff, 0xff};
  return out.put(kLen, 4) && ok;
}

bool stored_blocks(const unsigned char* in, std::size_t n, bool final, Output& out) {
  do {
    const std::size_t len = std::min<std::size_t>(n, 65535);
    const unsigned char header[5] = {static_cast<unsigned char>(final && len == n ? 1 : 0),  // BFINAL, BTYPE 00
                                     static_cast<unsigned char>(len & 0xff), static_cast<unsigned char>(len >> 8),
                                     static_cast<unsigned char>(~len & 0xff),
                                     static_cast<unsigned char>((~len >> 8) & 0xff)};
    if (!out.put(header, 5) || !out.put(in, len)) return false;
    in += len;
    n -= len;
  } while (n > 0);
  return true;
}

// Lengths (≤ limit bits) of a complete Huffman code for the symbols with nonzero `freq` (a lone
// one gets a partner): Huffman's construction, overlong codes repaired as zlib does
// (trees.c, gen_bitlen), lengths then given to the symbols by frequency. False if the code is
// not complete (it always is; inflate rejects incomplete codes, so this is checked).
bool huffman_lengths(std::span<const std::uint32_t> freq_in, int limit, std::span<std::uint8_t> len) {
  constexpr int kMaxSymbols = 288;
  const int n = static_cast<int>(freq_in.size());
  std::array<std::uint32_t, kMaxSymbols> freq{};
  std::copy(freq_in.begin(), freq_in.end(), freq.begin());
  int used = static_cast<int>(std::count_if(freq.begin(), freq.begin() + n, [](std::uint32_t f) { return f > 0; }));
  for (int s = 0; used < 2 && s < n; ++s)
    if (freq[s] == 0) {
      freq[s] = 1;
      ++used;
    }
  std::array<int, kMaxSymbols> sym{};  // symbols in the code, by ascending frequency
  int m = 0;
  {
    // (frequency, symbol) packed in one integer: the same order as comparing the pairs, and a
    // sort of plain integers (through a comparator on freq[] it was a tenth of the encoder).
    std::array<std::uint64_t, kMaxSymbols> key{};
    for (int s = 0; s < n; ++s)
      if (freq[s] > 0) key[m++] = std::uint64_t{freq[s]} << 16 | static_cast<std::uint64_t>(s);
    std::sort(key.begin(), key.begin() + m);
    for (int i = 0; i < m; ++i) sym[i] = static_cast<int>(key[i] & 0xffff);
  }
  // Nodes: leaves 0..m-1 in that order, then inner nodes as merged (two queues, both sorted).
  std::array<std::uint64_t, 2 * kMaxSymbols> weight{};
  std::array<int, 2 * kMaxSymbols> parent{}, depth{};
  for (int i = 0; i < m; ++i) weight[i] = freq[sym[i]];
  int leaf = 0, inner = m;
  auto lightest = [&](int next) { return leaf < m && (inner >= next || weight[leaf] <= weight[inner]) ? leaf++ : inner++; };
  const int root = 2 * m - 2;
  for (int next = m; next <= root; ++next) {
    const int a = lightest(next), b = lightest(next);
    weight[next] = weight[a] + weight[b];
    parent[a] = parent[b] = next;
  }
  std::array<int, 33> count{};
  int overflow = 0;
  depth[root] = 0;
  for (int i = root - 1; i >= 0; --i) {  // parents come after their children
    depth[i] = depth[parent[i]] + 1;
    if (depth[i] > limit) {
      depth[i] = limit;
      ++overflow;
    }
    if (i < m) ++count[depth[i]];
  }
  while (overflow > 0) {
    int bits = limit - 1;
    while (bits > 0 && count[bits] == 0) --bits;
    if (bits == 0) return false;
    --count[bits];        // a leaf moves down ...
    count[bits + 1] += 2;  // ... next to an overflowed one
    --count[limit];
    overflow -= 2;
  }
  std::fill(len.begin(), len.end(), std::uint8_t{0});
  std::uint64_t kraft = 0;
  for (int bits = limit, i = 0; bits > 0; --bits)  // the rarest symbols get the longest codes
    for (int k = 0; k < count[bits]; ++k, ++i) {
      if (i >= m) return false;
      len[sym[i]] = static_cast<std::uint8_t>(bits);
      kraft += std::uint64_t{1} << (limit - bits);
    }
  return kraft == (std::uint64_t{1} << limit);
}

// The low `len` (≤ 16) bits of c in reverse order.
std::uint32_t reverse_bits(std::uint32_t c, int len) {
  static constexpr std::array<std::uint8_t, 256> kReversed = [] {
    std::array<std::uint8_t, 256> t{};
    for (int v = 0; v < 256; ++v)
      for (int b = 0; b < 8; ++b) t[v] |= static_cast<std::uint8_t>(((v >> b) & 1) << (7 - b));
    return t;
  }();
  const std::uint32_t r16 = static_cast<std::uint32_t>(kReversed[c & 0xff]) << 8 | kReversed[(c >> 8) & 0xff];
  return r16 >> (16 - len);
}

// Canonical codes (RFC 1951 3.2.2) for the lengths, bit-reversed for BitWriter.
void canonical_codes(std::span<const std::uint8_t> len, std::span<std::uint32_t> code) {
  std::array<std::uint32_t, 17> count{}, next{};
  for (const auto l : len) ++count[l];
  count[0] = 0;
  for (int bits = 1, c = 0; bits <= 16; ++bits) {
    c = (c + static_cast<int>(count[bits - 1])) << 1;
    next[bits] = static_cast<std::uint32_t>(c);
  }
  for (std::size_t s = 0; s < len.size(); ++s) {
    if (len[s] == 0) continue;
    code[s] = reverse_bits(next[len[s]]++, len[s]);
  }
}

// Deflate's length symbols (RFC 1951 3.2.5): for a copy of 3–258 bytes, its symbol (257–285),
// extra bits and their value.
struct LengthCode {
  std::uint16_t symbol;
  std::uint8_t extra_bits, extra;
};
constexpr std::array<LengthCode, 259> kLengthCodes = [] {
  constexpr int base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  constexpr int bits[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  std::array<LengthCode, 259> t{};
  for (int len = 3; len <= 258; ++len) {
    int s = 28;
    while (base[s] > len) --s;
    t[len] = {static_cast<std::uint16_t>(257 + s), static_cast<std::uint8_t>(bits[s]),
              static_cast<std::uint8_t>(len - base[s])};
  }
  return t;
}();

// Bits into memory whose room was checked beforehand, least significant first, four bytes
// at a time (x86-64 and the other little-endian targets; elsewhere byte by byte).
class FastBits {
 public:
  explicit FastBits(unsigned char* p) : p_(p) {}
  void put(std::uint64_t v, int n) {  // n ≤ 32, v < 2^n
    bits_ |= v << count_;
    count_ += n;
    if (count_ >= 32) {
      const auto low = static_cast<std::uint32_t>(bits_);
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(p_, &low, 4);
      } else {
        for (int i = 0; i < 4; ++i) p_[i] = static_cast<unsigned char>(low >> (8 * i));
      }
      p_ += 4;
      bits_ >>= 32;
      count_ -= 32;
    }
  }
  // Pads to the byte boundary with zeros; returns the end of what was written.
  unsigned char* finish() {
    for (; count_ > 0; count_ -= 8, bits_ >>= 8) *p_++ = static_cast<unsigned char>(bits_);
    count_ = 0;
    return p_;
  }

 private:
  unsigned char* p_;
  std::uint64_t bits_ = 0;
  int count_ = 0;
};

// The length of the run of c starting at in[0] (≤ n), eight bytes per step.
std::size_t run_length(const unsigned char* in, std::size_t n, unsigned char c) {
  const std::uint64_t all = 0x0101010101010101ULL * c;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, in + i, 8);
    if (const std::uint64_t d = w ^ all; d != 0) {
      if constexpr (std::endian::native == std::endian::little) return i + static_cast<std::size_t>(std::countr_zero(d) / 8);
      break;
    }
  }
  while (i < n && in[i] == c) ++i;
  return i;
}

// in[0, n) (n ≤ kDeflateBlock) as one dynamic-Huffman block (RFC 1951 3.2.7) of literals and
// copies at distance 1 — runs of one byte, as zlib's run-length strategy finds them — ended by
// an empty stored block as a sync flush ends it. A shuffled byte plane of model output is
// mostly that: runs of a few hundred equal bytes (one region's firms of one good alike) or a
// byte spread over a few values (an exponent). Our own code because zlib spends most of its
// time elsewhere (its hash chains, its block splitting), ≈ 3× slower on these planes. False if
// it does not fit or a code could not be built (the caller then uses zlib).
bool runs_piece(const unsigned char* in, std::size_t n, Output& out) {
  constexpr int kLitLen = 286, kDist = 2;  // literals, end of block, lengths; two 1-bit distances
  constexpr std::size_t kMinRun = 4;       // a literal, then a copy of ≥ 3
  // Tokens: a literal (< 256) or a copy of length 3–258 (256 + length).
  std::array<std::uint16_t, kDeflateBlock> tokens;
  if (n > tokens.size()) return false;
  // Literal counts: every byte, counted in four tables (consecutive equal bytes would otherwise
  // wait on each other's increment), less the bytes the copies take.
  std::array<std::array<std::uint32_t, 256>, 4> count{};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ++count[0][in[i]];
    ++count[1][in[i + 1]];
    ++count[2][in[i + 2]];
    ++count[3][in[i + 3]];
  }
  for (; i < n; ++i) ++count[0][in[i]];
  std::array<std::uint32_t, kLitLen> freq{};
  for (int c = 0; c < 256; ++c) freq[c] = count[0][c] + count[1][c] + count[2][c] + count[3][c];
  std::size_t nt = 0;
  std::uint64_t extra_bits = 0;  // the copies' length extra bits
  for (i = 0; i < n;) {
    // Eight literals at once where none of in[i, i + 8) equals the byte after it (most of a
    // spread-out plane): what the steps below do byte by byte then.
    if (i + 9 <= n) {
      std::uint64_t a, b;
      std::memcpy(&a, in + i, 8);
      std::memcpy(&b, in + i + 1, 8);
      const std::uint64_t x = a ^ b;  // byte k is 0 where in[i + k] == in[i + k + 1]
      if (((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) == 0) {
        for (int k = 0; k < 8; ++k) tokens[nt + k] = in[i + k];
        nt += 8;
        i += 8;
        continue;
      }
    }
    const unsigned char c = in[i];
    tokens[nt++] = c;
    // Most bytes of a spread-out plane differ from the next: one compare before the run search.
    std::size_t run = i + 1 < n && in[i + 1] == c ? run_length(in + i + 1, n - i - 1, c) : 0;
    i += 1 + run;
    if (run + 1 < kMinRun) {  // too short for a copy: the rest as literals
      for (; run > 0; --run) tokens[nt++] = c;
      continue;
    }
    freq[c] -= static_cast<std::uint32_t>(run);  // these bytes go as copies (or the literals below)
    while (run >= 3) {
      // 258 at a time, but never leave 1–2 bytes behind that a copy cannot take.
      const std::size_t len = run > 258 ? (run - 258 < 3 ? run - 3 : 258) : run;
      tokens[nt++] = static_cast<std::uint16_t>(256 + len);
      ++freq[kLengthCodes[len].symbol];
      extra_bits += kLengthCodes[len].extra_bits;
      run -= len;
    }
    for (; run > 0; --run) {
      tokens[nt++] = c;
      ++freq[c];
    }
  }
  freq[256] = 1;
  std::array<std::uint8_t, kLitLen + kDist> lens{};
  if (!huffman_lengths(freq, 15, std::span(lens).first(kLitLen))) return false;
  lens[kLitLen] = lens[kLitLen + 1] = 1;  // distance codes 0 (distance 1, no extra bits) and 1 (unused)
  int hlit = kLitLen;
  while (hlit > 257 && lens[hlit - 1] == 0) --hlit;
  // The code lengths (HLIT literal/length ones, then the two distance ones), run-length coded:
  // 17 = 3–10 zeros, 18 = 11–138 zeros, else the length.
  std::array<std::uint8_t, kLitLen + kDist> cl_seq{};
  std::copy(lens.begin(), lens.begin() + hlit, cl_seq.begin());
  cl_seq[hlit] = cl_seq[hlit + 1] = 1;
  const int seq_n = hlit + kDist;
  struct Item {
    std::uint8_t symbol, extra;
  };
  std::array<Item, kLitLen + kDist> items{};
  int items_n = 0;
  std::array<std::uint32_t, 19> cl_freq{};
  for (int i = 0; i < seq_n;) {
    int run = 1;
    while (cl_seq[i] == 0 && i + run < seq_n && cl_seq[i + run] == 0 && run < 138) ++run;
    if (cl_seq[i] == 0 && run >= 11) {
      items[items_n++] = {18, static_cast<std::uint8_t>(run - 11)};
    } else if (cl_seq[i] == 0 && run >= 3) {
      items[items_n++] = {17, static_cast<std::uint8_t>(run - 3)};
    } else {
      run = 1;
      items[items_n++] = {cl_seq[i], 0};
    }
    ++cl_freq[items[items_n - 1].symbol];
    i += run;
  }
  std::array<std::uint8_t, 19> cl_len{};
  if (!huffman_lengths(cl_freq, 7, cl_len)) return false;
  std::array<std::uint32_t, 19> cl_code{};
  canonical_codes(cl_len, cl_code);
  std::array<std::uint32_t, kLitLen> code{};
  canonical_codes(std::span(lens).first(kLitLen), code);
  static constexpr int kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  int hclen = 19;
  while (hclen > 4 && cl_len[kOrder[hclen - 1]] == 0) --hclen;
  // The block's exact size, checked against the room left before anything is written.
  std::uint64_t bits = 3 + 5 + 5 + 4 + 3 * hclen;
  for (int i = 0; i < items_n; ++i)
    bits += cl_len[items[i].symbol] + (items[i].symbol == 18 ? 7 : items[i].symbol == 17 ? 3 : 0);
  for (int s = 0; s <= 256; ++s) bits += std::uint64_t{freq[s]} * lens[s];  // end of block counted once
  for (int s = 257; s < kLitLen; ++s)
    if (freq[s] > 0) bits += std::uint64_t{freq[s]} * (lens[s] + 1);  // + the distance code's bit
  bits += extra_bits + 3;  // + the empty stored block's header
  if (out.room() < bits / 8 + 8 + 4) return false;
  // Each token's bits (low 32) and their count (high 32), one load a token: a literal's code;
  // a copy (token 256 + length) as one write of its length code, extra bits and the distance
  // code (0, one bit).
  std::array<std::uint64_t, 256 + 259> token_bits{};
  for (int c = 0; c < 256; ++c) token_bits[c] = code[c] | std::uint64_t{lens[c]} << 32;
  for (int len = 3; len <= 258; ++len) {
    const auto& lc = kLengthCodes[len];
    if (freq[lc.symbol] == 0) continue;
    token_bits[256 + len] = (code[lc.symbol] | static_cast<std::uint64_t>(lc.extra) << lens[lc.symbol]) |
                            std::uint64_t{static_cast<unsigned>(lens[lc.symbol] + lc.extra_bits + 1)} << 32;
  }
  FastBits w(out.end());
  w.put(0, 1);  // not the final block
  w.put(2, 2);  // dynamic Huffman codes
  w.put(static_cast<std::uint32_t>(hlit - 257), 5);
  w.put(kDist - 1, 5);
  w.put(static_cast<std::uint32_t>(hclen - 4), 4);
  for (int i = 0; i < hclen; ++i) w.put(cl_len[kOrder[i]], 3);
  for (int i = 0; i < items_n; ++i) {
    w.put(cl_code[items[i].symbol], cl_len[items[i].symbol]);
    if (items[i].symbol == 17) w.put(items[i].extra, 3);
    if (items[i].symbol == 18) w.put(items[i].extra, 7);
  }
  for (std::size_t t = 0; t < nt; ++t) {
    const std::uint64_t v = token_bits[tokens[t]];
    w.put(v & 0xffffffffu, static_cast<int>(v >> 32));
  }
  w.put(code[256], lens[256]);
  w.put(0, 3);  // an empty stored block, not final, padded to the byte
  unsigned char* end = w.finish();
  out.advance(static_cast<std::size_t>(end - out.end()));
  static constexpr unsigned char kLen[] = {0x00, 0x00, 0xff, 0xff};
  return out.put(kLen, 4);
}

// The level-1 zlib stream of in[0, n) described above, into `out`; false on a zlib error or if
// it does not fit.
bool deflate_by_blocks(const unsigned char* in, std::size_t n, Output& out) {
  static constexpr unsigned char kHeader[] = {0x78, 0x01};  // deflate, 32 KiB window, fastest
  if (!out.put(kHeader, 2)) return false;
  RawDeflate rle(Z_RLE), match(Z_DEFAULT_STRATEGY);
  Adler adler;
  std::vector<BlockCoding> kinds;
  for (std::size_t at = 0; at < n; at += kDeflateBlock)
    kinds.push_back(choose_coding(in + at, std::min(kDeflateBlock, n - at)));
  for (std::size_t b = 0; b < kinds.size();) {  // runs of blocks of one kind (constant: one byte)
    const BlockCoding kind = kinds[b];
    const std::size_t at = b * kDeflateBlock;
    for (++b; b < kinds.size() && kinds[b] == kind; ++b)
      if (kind == BlockCoding::constant && in[b * kDeflateBlock] != in[at]) break;
    const std::size_t len = std::min(n, b * kDeflateBlock) - at;
    bool ok = false;
    if (kind == BlockCoding::constant) {
      ok = constant_piece(in[at], len, out);
      adler.add_run(in[at], len);
    } else {
      if (kind == BlockCoding::stored) {
        ok = stored_blocks(in + at, len, false, out);
      } else if (kind == BlockCoding::runs) {
        ok = true;
        for (std::size_t b0 = at; ok && b0 < at + len; b0 += kDeflateBlock) {  // a code per block
          const std::size_t size = std::min(kDeflateBlock, at + len - b0);
          const std::size_t mark = out.size();
          if (!runs_piece(in + b0, size, out)) {
            out.rewind(mark);
            ok = rle.piece(in + b0, size, out);
          }
        }
      } else {
        ok = match.piece(in + at, len, out);
      }
      adler.add(in + at, len);
    }
    if (!ok) return false;
  }
  if (!stored_blocks(in, 0, true, out)) return false;  // the final block, empty
  const uLong sum = adler.value();
  const unsigned char trailer[4] = {static_cast<unsigned char>(sum >> 24), static_cast<unsigned char>(sum >> 16),
                                    static_cast<unsigned char>(sum >> 8), static_cast<unsigned char>(sum)};
  return out.put(trailer, 4);
}

// What zlib's compress2 does: one deflate stream at `level` into dest[0, *dest_len).
int deflate_whole(Bytef* dest, uLongf* dest_len, const Bytef* source, uLong source_len, int level) {
  z_stream z{};
  const int init = deflateInit(&z, level);
  if (init != Z_OK) return init;
  constexpr uLong kMax = std::numeric_limits<uInt>::max();
  uLong room = *dest_len, left = source_len;
  z.next_out = dest;
  z.next_in = const_cast<Bytef*>(source);
  int rc = Z_OK;
  do {
    if (z.avail_out == 0) {
      z.avail_out = static_cast<uInt>(std::min(room, kMax));
      room -= z.avail_out;
    }
    if (z.avail_in == 0) {
      z.avail_in = static_cast<uInt>(std::min(left, kMax));
      left -= z.avail_in;
    }
    rc = deflate(&z, left > 0 ? Z_NO_FLUSH : Z_FINISH);
  } while (rc == Z_OK);
  *dest_len = z.total_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END ? Z_OK : rc;
}

}  // namespace

extern "C" int compress2(Bytef* dest, uLongf* destLen, const Bytef* source, uLong sourceLen, int level) {
  if (level == 1) {
    try {
      Output out(dest, *destLen);
      if (deflate_by_blocks(source, sourceLen, out)) {
        *destLen = out.size();
        return Z_OK;
      }
    } catch (const std::bad_alloc&) {
      return Z_MEM_ERROR;
    }
  }
  return deflate_whole(dest, destLen, source, sourceLen, level);
}


namespace decouple {

// ---------------------------------------------------------------------------------------
// Table

void Table::add(ColumnSpec spec) {
  specs.reserve(specs.size() + 1);
  switch (spec.type) {
    case ColumnType::i32: columns.emplace_back(std::vector<std::int32_t>{}); break;
    case ColumnType::i64: columns.emplace_back(std::vector<std::int64_t>{}); break;
    case ColumnType::f64: columns.emplace_back(std::vector<double>{}); break;
    case ColumnType::str: columns.emplace_back(std::vector<std::string>{}); break;
  }
  specs.push_back(std::move(spec));  // cannot throw after reserve
}

std::size_t Table::rows() const {
  if (columns.empty()) return 0;
  return std::visit([](const auto& v) { return v.size(); }, columns.front());
}

void Table::clear_rows() {
  for (auto& c : columns) std::visit([](auto& v) { v.clear(); }, c);
}

namespace {

namespace fs = std::filesystem;

// Level 1: after the byte shuffle, numeric panels compress almost as well as at level 4
// (measured in PERFORMANCE.md) at a fraction of the CPU time, which dominated output.
constexpr unsigned kDeflateLevel = 1;
// Rows read per block by describe_file / export_csv (bounded memory for any panel size).
constexpr hsize_t kReadBlockRows = 65536;

constexpr const char* kFormat = "decouple-panel";

// ----- HDF5's shuffle filter, faster for 8-byte elements -------------------------------
//
// Before deflate, HDF5 shuffles each chunk (byte j of every element together, DESIGN §6's
// "chunked, deflate" with the byte shuffle): byte by byte, ≈ 70 µs per 128 KiB chunk here,
// ≈ 0.15 s of a 2-rank million-firm run per rank. H5Zregister refuses to replace a predefined
// filter, but the library's filter table entry — H5Z_find, exported by libhdf5 though not in
// its public headers — holds the function it calls. For writing chunks of 8-byte elements
// that entry is given shuffle8 below, which writes the same bytes as a transpose of 16×8-byte
// blocks in SSE2 registers (≈ 20 µs a chunk); reading, other sizes and chunks under two
// elements go to HDF5's own. Looked up at run time: a libhdf5 without the symbol keeps its own.

using FilterFunction = size_t (*)(unsigned, size_t, const unsigned[], size_t, size_t*, void**);
FilterFunction hdf5_shuffle = nullptr;  // HDF5's own, once replaced

// dst[j·n + i] = src[8·i + j] for n elements.
void shuffle8(const unsigned char* src, unsigned char* dst, std::size_t n) {
  std::size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    // Each register: two elements; bytes paired (element 2k's byte j, element 2k+1's), then an
    // 8×8 transpose of those 16-bit pairs: register j ends with byte j of all 16 elements.
    __m128i u[8], t[8], s[8];
    for (int k = 0; k < 8; ++k) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 8 * i + 16 * k));
      u[k] = _mm_unpacklo_epi8(x, _mm_srli_si128(x, 8));
    }
    for (int k = 0; k < 4; ++k) {
      t[2 * k] = _mm_unpacklo_epi16(u[2 * k], u[2 * k + 1]);
      t[2 * k + 1] = _mm_unpackhi_epi16(u[2 * k], u[2 * k + 1]);
    }
    for (int k = 0; k < 2; ++k) {  // from pairs (0, 2), (1, 3) and (4, 6), (5, 7)
      s[4 * k] = _mm_unpacklo_epi32(t[4 * k], t[4 * k + 2]);
      s[4 * k + 1] = _mm_unpackhi_epi32(t[4 * k], t[4 * k + 2]);
      s[4 * k + 2] = _mm_unpacklo_epi32(t[4 * k + 1], t[4 * k + 3]);
      s[4 * k + 3] = _mm_unpackhi_epi32(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int k = 0; k < 4; ++k) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * k) * n + i), _mm_unpacklo_epi64(s[k], s[k + 4]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (2 * k + 1) * n + i), _mm_unpackhi_epi64(s[k], s[k + 4]));
    }
  }
#endif
  for (; i < n; ++i)
    for (std::size_t j = 0; j < 8; ++j) dst[j * n + i] = src[8 * i + j];
}

// HDF5's filter contract (H5Zshuffle.c): a new buffer from H5allocate_memory replaces *buf;
// trailing bytes that make no whole element are copied at the end; 0 is failure.
size_t fast_shuffle(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes, size_t* buf_size,
                    void** buf) {
  if ((flags & H5Z_FLAG_REVERSE) != 0 || cd_nelmts != 1 || cd_values[0] != 8 || nbytes < 16)
    return hdf5_shuffle(flags, cd_nelmts, cd_values, nbytes, buf_size, buf);
  auto* dest = static_cast<unsigned char*>(H5allocate_memory(nbytes, false));
  if (dest == nullptr) return 0;
  const auto* src = static_cast<const unsigned char*>(*buf);
  const std::size_t n = nbytes / 8;
  shuffle8(src, dest, n);
  std::memcpy(dest + 8 * n, src + 8 * n, nbytes - 8 * n);
  H5free_memory(*buf);
  *buf = dest;
  *buf_size = nbytes;
  return nbytes;
}

// Once per process (again if the library was closed and reopened: its table is then new).
void install_fast_shuffle() {
  using Find = H5Z_class2_t* (*)(H5Z_filter_t);
  static const auto find = reinterpret_cast<Find>(dlsym(RTLD_DEFAULT, "H5Z_find"));
  if (find == nullptr || H5open() < 0) return;
  H5Z_class2_t* shuffle = find(H5Z_FILTER_SHUFFLE);
  if (shuffle == nullptr || shuffle->filter == nullptr || shuffle->filter == &fast_shuffle) return;
  hdf5_shuffle = shuffle->filter;
  shuffle->filter = &fast_shuffle;
}

// ----- errors --------------------------------------------------------------------------

void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

herr_t innermost_error(unsigned /*n*/, const H5E_error2_t* e, void* data) {
  // Walking downward, the last entry is where the error was first detected.
  if (e->desc != nullptr && e->desc[0] != '\0') *static_cast<std::string*>(data) = e->desc;
  return 0;
}

// HDF5's most specific error message for the failure just seen; clears the error stack.
std::string hdf5_message() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost_error, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? std::string("no HDF5 error message") : msg;
}

[[noreturn]] void fail(std::string_view call, std::string_view what) {
  throw InternalError(fmt::format("HDF5 {} failed for {}: {}", call, what, hdf5_message()));
}

template <class T>
T check(T result, std::string_view call, std::string_view what) {
  if (result < 0) fail(call, what);
  return result;
}

// ----- RAII handle ---------------------------------------------------------------------

class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer closer) : id_(id), close_(closer) {}
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports HDF5's result (for the checked closes in commit()).
  herr_t close() {
    if (id_ < 0) return 0;
    const herr_t r = close_(std::exchange(id_, H5I_INVALID_HID));
    return r;
  }
  // Closes ignoring errors (destructors, unwinding).
  void reset() noexcept {
    if (id_ >= 0) {
      close_(std::exchange(id_, H5I_INVALID_HID));
      H5Eclear2(H5E_DEFAULT);
    }
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

Hid make(hid_t id, Hid::Closer closer, std::string_view call, std::string_view what) {
  if (id < 0) fail(call, what);
  return Hid(id, closer);
}

Hid plist(hid_t cls, std::string_view what) {
  return make(H5Pcreate(cls), H5Pclose, "H5Pcreate", what);
}

Hid scalar_space(std::string_view what) {
  return make(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate", what);
}

Hid simple_space(hsize_t n, std::string_view what, bool unlimited = false) {
  const hsize_t max = unlimited ? H5S_UNLIMITED : n;
  return make(H5Screate_simple(1, &n, &max), H5Sclose, "H5Screate_simple", what);
}

Hid vlen_utf8(std::string_view what) {
  Hid t = make(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy", what);
  check(H5Tset_size(t.get(), H5T_VARIABLE), "H5Tset_size", what);
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", what);
  return t;
}

Hid fixed_utf8(std::size_t width, std::string_view what) {
  Hid t = make(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy", what);
  check(H5Tset_size(t.get(), width), "H5Tset_size", what);
  check(H5Tset_strpad(t.get(), H5T_STR_NULLPAD), "H5Tset_strpad", what);
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "H5Tset_cset", what);
  return t;
}

Hid open_object(hid_t file, const std::string& path) {
  return make(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose, "H5Oopen", path);
}

// ----- types ---------------------------------------------------------------------------

const char* type_name(ColumnType t) {
  switch (t) {
    case ColumnType::i32: return "i32";
    case ColumnType::i64: return "i64";
    case ColumnType::f64: return "f64";
    case ColumnType::str: return "str";
  }
  return "?";
}

// Index of the ColumnData alternative that holds a column of type t.
std::size_t variant_index(ColumnType t) {
  switch (t) {
    case ColumnType::i32: return 0;
    case ColumnType::i64: return 1;
    case ColumnType::f64: return 2;
    case ColumnType::str: return 3;
  }
  return std::variant_npos;
}

// File types are explicit little-endian so a file reads the same on any machine.
hid_t file_type(ColumnType t) {
  switch (t) {
    case ColumnType::i32: return H5T_STD_I32LE;
    case ColumnType::i64: return H5T_STD_I64LE;
    case ColumnType::f64: return H5T_IEEE_F64LE;
    case ColumnType::str: break;
  }
  throw InternalError("file_type: strings have no fixed HDF5 type");
}

std::size_t column_size(const ColumnData& c) {
  return std::visit([](const auto& v) { return v.size(); }, c);
}

void require_no_nul(const std::string& s, std::string_view what) {
  if (s.find('\0') != std::string::npos)
    throw InternalError(fmt::format("{}: string contains a NUL character, which HDF5 cannot store",
                                    what));
}

// ----- paths ---------------------------------------------------------------------------

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t j = std::min(path.find('/', i), path.size());
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// "/a//b/" -> "/a/b"; "" and "/" -> "/".
std::string normalize(const std::string& path) {
  std::string out;
  for (const auto& c : components(path)) {
    if (c == "." || c == "..")
      throw InternalError(fmt::format("HDF5 path {}: '.' and '..' are not allowed", path));
    out += '/';
    out += c;
  }
  return out.empty() ? std::string("/") : out;
}

std::string parent_of(const std::string& normalized) {
  const auto slash = normalized.rfind('/');
  return slash == 0 || slash == std::string::npos ? std::string("/") : normalized.substr(0, slash);
}

std::string child_path(const std::string& group, const std::string& name) {
  return group == "/" ? "/" + name : group + "/" + name;
}

void require_column_name(const std::string& name, std::string_view where) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw InternalError(fmt::format("{}: invalid column name '{}'", where, name));
}

void require_leaf(const std::string& normalized, std::string_view what) {
  if (normalized == "/") throw InternalError(fmt::format("{}: a dataset needs a name", what));
}

// ----- groups and attributes -----------------------------------------------------------

// Groups track link creation order, so readers list columns in the order they were written.
Hid ordered_group_plist(std::string_view what) {
  Hid p = plist(H5P_GROUP_CREATE, what);
  check(H5Pset_link_creation_order(p.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_link_creation_order", what);
  return p;
}

bool link_exists(hid_t file, const std::string& path) {
  return check(H5Lexists(file, path.c_str(), H5P_DEFAULT), "H5Lexists", path) > 0;
}

bool is_group(hid_t file, const std::string& path) {
  Hid o = open_object(file, path);
  return H5Iget_type(o.get()) == H5I_GROUP;
}

// Creates `path` and any missing parents (each with creation-order tracking); an existing
// group is fine, an existing non-group is an error.
void ensure_group(hid_t file, const std::string& path) {
  std::string cur;
  for (const auto& c : components(path)) {
    cur += '/';
    cur += c;
    if (link_exists(file, cur)) {
      if (!is_group(file, cur))
        throw InternalError(fmt::format("HDF5 path {} exists and is not a group", cur));
      continue;
    }
    Hid gcpl = ordered_group_plist(cur);
    make(H5Gcreate2(file, cur.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose,
         "H5Gcreate2", cur);
  }
}

// A new group at `path` (parents created as needed); it must not exist yet.
Hid create_group(hid_t file, const std::string& path) {
  if (path == "/") throw InternalError("the root group cannot be created");
  ensure_group(file, parent_of(path));
  if (link_exists(file, path)) throw InternalError(fmt::format("HDF5 {} already exists", path));
  Hid gcpl = ordered_group_plist(path);
  return make(H5Gcreate2(file, path.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose,
              "H5Gcreate2", path);
}

void write_attribute(hid_t obj, const Attribute& a, const std::string& where) {
  const std::string what = fmt::format("attribute {} of {}", a.name, where);
  if (a.name.empty() || a.name.find('\0') != std::string::npos)
    throw InternalError(fmt::format("{}: invalid attribute name", what));
  if (check(H5Aexists(obj, a.name.c_str()), "H5Aexists", what) > 0)
    check(H5Adelete(obj, a.name.c_str()), "H5Adelete", what);
  Hid space = scalar_space(what);
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string>) {
          require_no_nul(v, what);
          Hid type = vlen_utf8(what);
          Hid attr = make(H5Acreate2(obj, a.name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                     H5P_DEFAULT),
                          H5Aclose, "H5Acreate2", what);
          const char* p = v.c_str();
          check(H5Awrite(attr.get(), type.get(), &p), "H5Awrite", what);
        } else {
          constexpr bool is_int = std::is_same_v<V, std::int64_t>;
          const hid_t ftype = is_int ? H5T_STD_I64LE : H5T_IEEE_F64LE;
          const hid_t mtype = is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
          Hid attr = make(
              H5Acreate2(obj, a.name.c_str(), ftype, space.get(), H5P_DEFAULT, H5P_DEFAULT),
              H5Aclose, "H5Acreate2", what);
          check(H5Awrite(attr.get(), mtype, &v), "H5Awrite", what);
        }
      },
      a.value);
}

// Creation list of a fixed-size dataset whose every element is written right after it is created:
// no fill values (under MPI-IO, HDF5 allocates the space at creation and would write them all).
Hid written_in_full(std::string_view what) {
  Hid dcpl = plist(H5P_DATASET_CREATE, what);
  check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", what);
  return dcpl;
}

void write_column_attributes(hid_t dset, const ColumnSpec& spec, const std::string& where) {
  write_attribute(dset, {"units", spec.units}, where);
  write_attribute(dset, {"description", spec.description}, where);
  if (!spec.codes.empty()) write_attribute(dset, {"codes", spec.codes}, where);
}

// ----- writing rows --------------------------------------------------------------------

// Collective: writes this rank's numeric `data` into the given blocks of rows (offset, count)
// of the 1-D dataset `dset`, in order (one hyperslab per block; the counts add up to the
// data's size). A rank with no rows selects nothing but still takes part.
void write_rows(hid_t dset, const ColumnData& data, std::span<const std::pair<hsize_t, hsize_t>> blocks,
                hid_t xfer, const std::string& what) {
  hsize_t n = column_size(data);
  Hid fspace = make(H5Dget_space(dset), H5Sclose, "H5Dget_space", what);
  Hid mspace = simple_space(std::max<hsize_t>(n, 1), what);
  if (n > 0) {
    bool first = true;
    for (auto [offset, count] : blocks) {
      if (count == 0) continue;
      check(H5Sselect_hyperslab(fspace.get(), first ? H5S_SELECT_SET : H5S_SELECT_OR, &offset, nullptr,
                                &count, nullptr),
            "H5Sselect_hyperslab", what);
      first = false;
    }
  } else {
    check(H5Sselect_none(fspace.get()), "H5Sselect_none", what);
    check(H5Sselect_none(mspace.get()), "H5Sselect_none", what);
  }
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::vector<std::string>>) {
          throw InternalError(fmt::format("{}: strings cannot be written through MPI-IO", what));
        } else {
          hid_t mtype = H5T_NATIVE_DOUBLE;
          if constexpr (std::is_same_v<V, std::vector<std::int32_t>>) mtype = H5T_NATIVE_INT32;
          if constexpr (std::is_same_v<V, std::vector<std::int64_t>>) mtype = H5T_NATIVE_INT64;
          const typename V::value_type dummy{};  // H5Dwrite wants a buffer even for 0 rows
          check(H5Dwrite(dset, mtype, mspace.get(), fspace.get(), xfer,
                         n > 0 ? v.data() : &dummy),
                "H5Dwrite", what);
        }
      },
      data);
}

// This rank's strings as rows [offset, offset + n) of a fixed-length string dataset of `type`
// (`width` bytes, NUL-padded), in slices through `buffer` (kept by the caller across calls: a
// million firms' strings padded to the longest were tens of MB, page faults included).
// Independent transfers only: each rank makes its own number of calls.
void write_fixed_strings(hid_t dset, hid_t type, const std::vector<std::string>& values, std::size_t width,
                         hsize_t offset, hid_t independent, const std::string& what, std::vector<char>& buffer) {
  const std::size_t slice = std::max<std::size_t>(1, (std::size_t{4} << 20) / width);
  buffer.resize(std::min(values.size(), slice) * width);
  Hid fspace = make(H5Dget_space(dset), H5Sclose, "H5Dget_space", what);
  for (std::size_t first = 0; first < values.size(); first += slice) {
    const hsize_t n = std::min(slice, values.size() - first);
    std::fill(buffer.begin(), buffer.end(), '\0');
    for (std::size_t i = 0; i < n; ++i) {
      const std::string& v = values[first + i];
      if (v.size() > width)
        throw InternalError(fmt::format("{}: a value of {} bytes in a column {} bytes wide", what, v.size(), width));
      require_no_nul(v, what);
      std::copy(v.begin(), v.end(), buffer.begin() + static_cast<std::ptrdiff_t>(i * width));
    }
    const hsize_t at = offset + first;
    check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &at, nullptr, &n, nullptr), "H5Sselect_hyperslab", what);
    Hid mspace = simple_space(n, what);
    check(H5Dwrite(dset, type, mspace.get(), fspace.get(), independent, buffer.data()), "H5Dwrite", what);
  }
}

void write_rows(hid_t dset, const ColumnData& data, hsize_t offset, hid_t xfer, const std::string& what) {
  const std::pair<hsize_t, hsize_t> block{offset, column_size(data)};
  write_rows(dset, data, std::span(&block, 1), xfer, what);
}

// Serial: writes every element of a (scalar or 1-D) variable-length string dataset.
void write_all_strings(hid_t dset, const std::vector<std::string>& v, const std::string& what) {
  if (v.empty()) return;
  Hid type = vlen_utf8(what);
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const auto& s : v) ptrs.push_back(s.c_str());
  check(H5Dwrite(dset, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dwrite",
        what);
}

// Checks a table's columns against its specs: same count, matching types, equal lengths.
void check_table_shape(const Table& t, const std::string& where) {
  if (t.columns.size() != t.specs.size())
    throw InternalError(fmt::format("{}: {} column specs but {} columns", where, t.specs.size(),
                                    t.columns.size()));
  const std::size_t rows = t.rows();
  std::set<std::string> names;
  for (std::size_t c = 0; c < t.specs.size(); ++c) {
    const auto& spec = t.specs[c];
    require_column_name(spec.name, where);
    if (!names.insert(spec.name).second)
      throw InternalError(fmt::format("{}: column {} appears twice", where, spec.name));
    if (t.columns[c].index() != variant_index(spec.type))
      throw InternalError(fmt::format("{}: column {} is declared {} but holds other data", where,
                                      spec.name, type_name(spec.type)));
    if (column_size(t.columns[c]) != rows)
      throw InternalError(fmt::format("{}: column {} has {} rows, column {} has {}", where,
                                      spec.name, column_size(t.columns[c]), t.specs[0].name,
                                      rows));
  }
}

// Rows [offset, offset + n) of a 1-D numeric dataset as a column of type t. Collective under
// a collective transfer list `xfer` (a rank with n = 0 selects nothing but takes part).
ColumnData read_numeric_rows(hid_t dset, ColumnType t, hsize_t offset, hsize_t n, hid_t xfer,
                             const std::string& what) {
  Hid fspace = make(H5Dget_space(dset), H5Sclose, "H5Dget_space", what);
  Hid mspace = simple_space(std::max<hsize_t>(n, 1), what);
  if (n > 0) {
    check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &offset, nullptr, &n, nullptr),
          "H5Sselect_hyperslab", what);
  } else {
    check(H5Sselect_none(fspace.get()), "H5Sselect_none", what);
    check(H5Sselect_none(mspace.get()), "H5Sselect_none", what);
  }
  auto read = [&](auto& v, hid_t mtype) {
    v.resize(std::max<hsize_t>(n, 1));  // H5Dread wants a buffer even for 0 rows
    check(H5Dread(dset, mtype, mspace.get(), fspace.get(), xfer, v.data()), "H5Dread", what);
    v.resize(n);
  };
  switch (t) {
    case ColumnType::i32: { std::vector<std::int32_t> v; read(v, H5T_NATIVE_INT32); return v; }
    case ColumnType::i64: { std::vector<std::int64_t> v; read(v, H5T_NATIVE_INT64); return v; }
    case ColumnType::f64: { std::vector<double> v; read(v, H5T_NATIVE_DOUBLE); return v; }
    case ColumnType::str: break;
  }
  throw InternalError(fmt::format("{}: strings cannot be read through MPI-IO", what));
}

// ----- reading (describe_file, export_csv) ---------------------------------------------

using AttrValue = std::variant<std::int64_t, double, std::string>;

std::string read_fixed_string(const char* p, std::size_t size, H5T_str_t pad) {
  std::string s(p, strnlen(p, size));
  if (pad == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

// A scalar attribute as int64/double/string; nullopt for anything else.
std::optional<AttrValue> read_attribute_value(hid_t attr, const std::string& what) {
  Hid type = make(H5Aget_type(attr), H5Tclose, "H5Aget_type", what);
  Hid space = make(H5Aget_space(attr), H5Sclose, "H5Aget_space", what);
  if (check(H5Sget_simple_extent_npoints(space.get()), "H5Sget_simple_extent_npoints", what) != 1)
    return std::nullopt;
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER: {
      std::int64_t v = 0;
      check(H5Aread(attr, H5T_NATIVE_INT64, &v), "H5Aread", what);
      return v;
    }
    case H5T_FLOAT: {
      double v = 0;
      check(H5Aread(attr, H5T_NATIVE_DOUBLE, &v), "H5Aread", what);
      return v;
    }
    case H5T_STRING: {
      if (check(H5Tis_variable_str(type.get()), "H5Tis_variable_str", what) > 0) {
        Hid mtype = vlen_utf8(what);
        check(H5Tset_cset(mtype.get(), H5Tget_cset(type.get())), "H5Tset_cset", what);
        char* p = nullptr;
        check(H5Aread(attr, mtype.get(), &p), "H5Aread", what);
        std::string s = p != nullptr ? p : "";
        H5free_memory(p);
        return s;
      }
      const std::size_t size = H5Tget_size(type.get());
      std::string buf(size + 1, '\0');
      check(H5Aread(attr, type.get(), buf.data()), "H5Aread", what);
      return read_fixed_string(buf.data(), size, H5Tget_strpad(type.get()));
    }
    default: return std::nullopt;
  }
}

std::optional<AttrValue> read_attribute(hid_t obj, const char* name, const std::string& where) {
  const std::string what = fmt::format("attribute {} of {}", name, where);
  if (check(H5Aexists(obj, name), "H5Aexists", what) <= 0) return std::nullopt;
  Hid attr = make(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, "H5Aopen", what);
  return read_attribute_value(attr.get(), what);
}

std::string string_attribute(hid_t obj, const char* name, const std::string& where) {
  const auto v = read_attribute(obj, name, where);
  if (v && std::holds_alternative<std::string>(*v)) return std::get<std::string>(*v);
  return {};
}

std::string format_attr(const std::optional<AttrValue>& v) {
  if (!v) return "(not a scalar number or string)";
  return std::visit([](const auto& x) { return fmt::format("{}", x); }, *v);
}

struct NamedAttr {
  std::string name;
  std::optional<AttrValue> value;
};

herr_t collect_attr_name(hid_t /*obj*/, const char* name, const H5A_info_t* /*info*/, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

// All attributes of an object, in creation order if tracked, else by name.
std::vector<NamedAttr> read_attributes(hid_t obj, const std::string& where) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  if (H5Aiterate2(obj, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_attr_name, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);
    names.clear();
    idx = 0;
    check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, &names),
          "H5Aiterate2", where);
  }
  std::vector<NamedAttr> out;
  for (auto& n : names) {
    auto v = read_attribute(obj, n.c_str(), where);
    out.push_back({std::move(n), std::move(v)});
  }
  return out;
}

struct Child {
  std::string name;
  H5I_type_t type;  // H5I_GROUP or H5I_DATASET (others are skipped)
};

herr_t collect_link(hid_t /*group*/, const char* name, const H5L_info_t* info, void* data) {
  if (info->type == H5L_TYPE_HARD) static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

// Groups and datasets directly below `path`, in creation order when the group tracks it.
std::vector<Child> list_children(hid_t file, const std::string& path) {
  Hid group = make(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose, "H5Gopen2", path);
  Hid gcpl = make(H5Gget_create_plist(group.get()), H5Pclose, "H5Gget_create_plist", path);
  unsigned flags = 0;
  check(H5Pget_link_creation_order(gcpl.get(), &flags), "H5Pget_link_creation_order", path);
  std::vector<std::string> names;
  hsize_t idx = 0;
  const bool ordered = (flags & H5P_CRT_ORDER_TRACKED) != 0;
  if (!ordered ||
      H5Literate(group.get(), H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_link, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);
    names.clear();
    idx = 0;
    check(H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_link, &names),
          "H5Literate", path);
  }
  std::vector<Child> out;
  for (auto& n : names) {
    Hid o = open_object(file, child_path(path, n));
    const H5I_type_t t = H5Iget_type(o.get());
    if (t == H5I_GROUP || t == H5I_DATASET) out.push_back({std::move(n), t});
  }
  return out;
}

enum class Kind { integer, real, text, other };

Kind kind_of(hid_t type) {
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: return Kind::integer;
    case H5T_FLOAT: return Kind::real;
    case H5T_STRING: return Kind::text;
    default: return Kind::other;
  }
}

std::string describe_type(hid_t type) {
  const std::size_t bits = 8 * H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
    case H5T_FLOAT: return fmt::format("float{}", bits);
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? std::string("string")
                                          : fmt::format("string[{}]", H5Tget_size(type));
    default: return "other";
  }
}

// An open dataset with what readers need to know about it.
struct Dataset {
  std::string path;
  Hid id;
  Hid type;
  int rank = 0;
  hsize_t rows = 0;  // 1-D: length; scalar: 1; otherwise: number of elements
  Kind kind = Kind::other;
};

Dataset open_dataset(hid_t file, const std::string& path) {
  Dataset d;
  d.path = path;
  d.id = make(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose, "H5Dopen2", path);
  d.type = make(H5Dget_type(d.id.get()), H5Tclose, "H5Dget_type", path);
  Hid space = make(H5Dget_space(d.id.get()), H5Sclose, "H5Dget_space", path);
  d.rank = check(H5Sget_simple_extent_ndims(space.get()), "H5Sget_simple_extent_ndims", path);
  d.rows = static_cast<hsize_t>(
      check(H5Sget_simple_extent_npoints(space.get()), "H5Sget_simple_extent_npoints", path));
  d.kind = kind_of(d.type.get());
  return d;
}

// Reads `n` elements starting at `offset` of a 1-D dataset (whole dataset if scalar).
// Integers come back as int64, reals as double, strings as std::string.
void read_rows(const Dataset& d, hsize_t offset, hsize_t n, ColumnData& out) {
  Hid fspace = make(H5Dget_space(d.id.get()), H5Sclose, "H5Dget_space", d.path);
  if (d.rank == 1) {
    check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &offset, nullptr, &n, nullptr),
          "H5Sselect_hyperslab", d.path);
  } else if (d.rank != 0 || offset != 0 || n != 1) {
    throw InternalError(fmt::format("{}: expected a 1-D dataset", d.path));
  }
  Hid mspace = simple_space(n, d.path);
  switch (d.kind) {
    case Kind::integer: {
      std::vector<std::int64_t> v(n);
      if (n > 0)
        check(H5Dread(d.id.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT,
                      v.data()),
              "H5Dread", d.path);
      out = std::move(v);
      return;
    }
    case Kind::real: {
      std::vector<double> v(n);
      if (n > 0)
        check(H5Dread(d.id.get(), H5T_NATIVE_DOUBLE, mspace.get(), fspace.get(), H5P_DEFAULT,
                      v.data()),
              "H5Dread", d.path);
      out = std::move(v);
      return;
    }
    case Kind::text: {
      std::vector<std::string> v;
      v.reserve(n);
      if (n == 0) {
        out = std::move(v);
        return;
      }
      if (check(H5Tis_variable_str(d.type.get()), "H5Tis_variable_str", d.path) > 0) {
        Hid mtype = vlen_utf8(d.path);
        check(H5Tset_cset(mtype.get(), H5Tget_cset(d.type.get())), "H5Tset_cset", d.path);
        std::vector<char*> ptrs(n, nullptr);
        check(H5Dread(d.id.get(), mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT,
                      ptrs.data()),
              "H5Dread", d.path);
        struct Reclaim {
          hid_t type, space;
          std::vector<char*>& p;
          ~Reclaim() {
            H5Dvlen_reclaim(type, space, H5P_DEFAULT, p.data());
            H5Eclear2(H5E_DEFAULT);
          }
        } reclaim{mtype.get(), mspace.get(), ptrs};
        for (const char* p : ptrs) v.emplace_back(p != nullptr ? p : "");
      } else {
        const std::size_t size = H5Tget_size(d.type.get());
        std::vector<char> buf(size * n + 1, '\0');
        check(H5Dread(d.id.get(), d.type.get(), mspace.get(), fspace.get(), H5P_DEFAULT,
                      buf.data()),
              "H5Dread", d.path);
        const H5T_str_t pad = H5Tget_strpad(d.type.get());
        for (hsize_t i = 0; i < n; ++i) v.push_back(read_fixed_string(&buf[i * size], size, pad));
      }
      out = std::move(v);
      return;
    }
    case Kind::other: break;
  }
  throw InternalError(fmt::format("{}: unsupported data type {}", d.path,
                                  describe_type(d.type.get())));
}

std::vector<std::string> read_string_list(hid_t file, const std::string& path) {
  Dataset d = open_dataset(file, path);
  if (d.kind != Kind::text || d.rank != 1)
    throw InternalError(fmt::format("{} is not a 1-D string dataset", path));
  ColumnData data;
  read_rows(d, 0, d.rows, data);
  return std::get<std::vector<std::string>>(std::move(data));
}

// Opens a decouple panel file for reading; InputError if missing, not HDF5, or not ours.
Hid open_panel_file(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) throw InputError(path, "FILE", "no such file");
  if (fs::is_directory(st)) throw InputError(path, "FILE", "is a folder, not an HDF5 file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(path, "FILE", "not an HDF5 file");
  }
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw InputError(path, "FILE", fmt::format("cannot open: {}", hdf5_message()));
  Hid file(f, H5Fclose);
  const auto format = read_attribute(file.get(), "format", "/");
  // A checkpoint (engine/checkpoint.cpp) is a panel file plus the state: `info` shows it too.
  if (!format || !std::holds_alternative<std::string>(*format) ||
      (std::get<std::string>(*format) != kFormat && std::get<std::string>(*format) != "decouple-checkpoint"))
    throw InputError(path, "FILE",
                     fmt::format("is not a decouple panel file (no root attribute format = \"{}\")",
                                 kFormat));
  return file;
}

// ----- describe --------------------------------------------------------------------------

std::optional<std::pair<std::int64_t, std::int64_t>> period_range(hid_t file,
                                                                  const std::string& group) {
  const std::string p = child_path(group, "period");
  if (!link_exists(file, p)) return std::nullopt;
  Dataset d = open_dataset(file, p);
  if (d.kind != Kind::integer || d.rank != 1 || d.rows == 0) return std::nullopt;
  std::int64_t lo = std::numeric_limits<std::int64_t>::max();
  std::int64_t hi = std::numeric_limits<std::int64_t>::min();
  ColumnData block;
  for (hsize_t off = 0; off < d.rows; off += kReadBlockRows) {
    read_rows(d, off, std::min(kReadBlockRows, d.rows - off), block);
    for (const auto v : std::get<std::vector<std::int64_t>>(block)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  return std::pair{lo, hi};
}

void describe_group(hid_t file, const std::string& path, std::string& out) {
  const auto children = list_children(file, path);
  std::vector<Dataset> datasets;
  std::vector<std::string> groups;
  for (const auto& c : children) {
    if (c.type == H5I_DATASET)
      datasets.push_back(open_dataset(file, child_path(path, c.name)));
    else
      groups.push_back(c.name);
  }
  std::sort(groups.begin(), groups.end());

  if (path != "/" || !datasets.empty()) {
    std::string header = path;
    bool equal = !datasets.empty();
    for (const auto& d : datasets) equal = equal && d.rank == 1 && d.rows == datasets[0].rows;
    std::vector<std::string> notes;
    if (equal && datasets.size() > 1)
      notes.push_back(fmt::format("{} columns, {} row{}", datasets.size(), datasets[0].rows,
                                  datasets[0].rows == 1 ? "" : "s"));
    if (path.starts_with("/panel/") || path.starts_with("/summary/")) {
      if (const auto r = period_range(file, path))
        notes.push_back(fmt::format("periods {}..{}", r->first, r->second));
    }
    if (datasets.empty() && groups.empty()) notes.emplace_back("empty");
    for (std::size_t i = 0; i < notes.size(); ++i) header += (i == 0 ? "  (" : ", ") + notes[i];
    if (!notes.empty()) header += ')';
    out += header + '\n';
  }

  std::size_t wname = 0, wtype = 0, wrows = 0;
  std::vector<std::array<std::string, 4>> lines;
  for (const auto& d : datasets) {
    const std::string rows = d.rank == 0 ? std::string("scalar")
                             : d.rank == 1 ? fmt::format("{} row{}", d.rows, d.rows == 1 ? "" : "s")
                                           : fmt::format("{} values ({}-D)", d.rows, d.rank);
    std::string extra;
    const std::string units = string_attribute(d.id.get(), "units", d.path);
    const std::string codes = string_attribute(d.id.get(), "codes", d.path);
    const std::string desc = string_attribute(d.id.get(), "description", d.path);
    if (!units.empty()) extra += "[" + units + "]";
    if (!codes.empty()) extra += (extra.empty() ? "" : " ") + ("codes " + codes);
    if (!desc.empty()) extra += (extra.empty() ? "" : "  ") + desc;
    if (d.rank == 0 && d.kind == Kind::text) {
      ColumnData text;
      read_rows(d, 0, 1, text);
      extra += fmt::format("{} bytes of text", std::get<std::vector<std::string>>(text)[0].size());
    }
    const auto& name = d.path.substr(d.path.rfind('/') + 1);
    lines.push_back({name, describe_type(d.type.get()), rows, extra});
    wname = std::max(wname, name.size());
    wtype = std::max(wtype, lines.back()[1].size());
    wrows = std::max(wrows, rows.size());
  }
  for (const auto& l : lines) {
    std::string line = fmt::format("  {:<{}}  {:<{}}  {:>{}}  {}", l[0], wname, l[1], wtype, l[2],
                                   wrows, l[3]);
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + '\n';
  }
  for (const auto& g : groups) describe_group(file, child_path(path, g), out);
}

// ----- CSV -------------------------------------------------------------------------------

void append_csv_field(std::string& out, const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) {
    out += s;
    return;
  }
  out += '"';
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_csv_double(std::string& out, double v) {
  if (std::isnan(v)) return;  // missing: an empty field (NA in R and Stata, NaN in pandas)
  fmt::format_to(std::back_inserter(out), "{}", v);  // shortest round-trip; inf as "inf"
}

struct CsvColumn {
  std::string header;
  Dataset data;
  const std::vector<std::string>* codes = nullptr;  // decode integers to these names
  std::string codes_path;
  ColumnData block;
};

using CodesCache = std::map<std::string, std::vector<std::string>>;

const std::vector<std::string>* load_codes(hid_t file, const std::string& codes, CodesCache& cache,
                                           const std::string& column) {
  auto it = cache.find(codes);
  if (it != cache.end()) return &it->second;
  const std::string p = normalize(codes);
  if (!link_exists(file, p))
    throw InternalError(fmt::format("{}: codes table {} does not exist", column, codes));
  return &cache.emplace(codes, read_string_list(file, p)).first->second;
}

// Streams the columns, block by block, to one CSV file.
std::string write_csv(const fs::path& dir, const std::string& name,
                      std::vector<CsvColumn>& cols) {
  const hsize_t rows = cols.empty() ? 0 : cols[0].data.rows;
  for (const auto& c : cols)
    if (c.data.rank != 1 || c.data.rows != rows)
      throw InternalError(fmt::format("{}: columns of unequal length ({} has {}, {} has {})", name,
                                      cols[0].data.path, rows, c.data.path, c.data.rows));
  CsvWriter w((dir / name).string(), "--csv");
  std::string buf;
  for (std::size_t c = 0; c < cols.size(); ++c) {
    if (c > 0) buf += ',';
    append_csv_field(buf, cols[c].header);
  }
  buf += '\n';
  for (hsize_t off = 0; off < rows; off += kReadBlockRows) {
    const hsize_t n = std::min(kReadBlockRows, rows - off);
    for (auto& c : cols) read_rows(c.data, off, n, c.block);
    for (hsize_t r = 0; r < n; ++r) {
      for (std::size_t c = 0; c < cols.size(); ++c) {
        if (c > 0) buf += ',';
        const auto& col = cols[c];
        if (const auto* iv = std::get_if<std::vector<std::int64_t>>(&col.block)) {
          const std::int64_t v = (*iv)[r];
          if (col.codes != nullptr && v == -1) {
            // -1 is "none" (e.g. a truce names no good): an empty field, missing in R/Stata.
          } else if (col.codes != nullptr) {
            if (v < 0 || static_cast<std::uint64_t>(v) >= col.codes->size())
              throw InternalError(fmt::format(
                  "{} row {}: code {} outside {} ({} names)", col.data.path, off + r, v,
                  col.codes_path, col.codes->size()));
            append_csv_field(buf, (*col.codes)[static_cast<std::size_t>(v)]);
          } else {
            fmt::format_to(std::back_inserter(buf), "{}", v);
          }
        } else if (const auto* dv = std::get_if<std::vector<double>>(&col.block)) {
          append_csv_double(buf, (*dv)[r]);
        } else {
          append_csv_field(buf, std::get<std::vector<std::string>>(col.block)[r]);
        }
      }
      buf += '\n';
    }
    w.write(buf);
  }
  w.write(buf);
  return w.finish();
}

CsvColumn csv_column(hid_t file, const std::string& path, std::string header, CodesCache& cache) {
  CsvColumn c{std::move(header), open_dataset(file, path), nullptr, {}, {}};
  if (c.data.kind == Kind::other)
    throw InternalError(fmt::format("{}: cannot export data type {}", path,
                                    describe_type(c.data.type.get())));
  if (c.data.kind == Kind::integer) {
    c.codes_path = string_attribute(c.data.id.get(), "codes", path);
    if (!c.codes_path.empty()) c.codes = load_codes(file, c.codes_path, cache, path);
  }
  return c;
}

// One CSV of the 1-D datasets of a group, in column order.
std::string export_table(hid_t file, const std::string& group, const fs::path& dir,
                         const std::string& name, CodesCache& cache) {
  std::vector<CsvColumn> cols;
  for (const auto& c : list_children(file, group)) {
    if (c.type != H5I_DATASET) continue;
    const std::string p = child_path(group, c.name);
    cols.push_back(csv_column(file, p, c.name, cache));
    if (cols.back().data.rank != 1) cols.pop_back();  // scalars are not columns
  }
  return write_csv(dir, name, cols);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// PanelFile

namespace {
struct Panel {
  std::vector<ColumnSpec> specs;
  std::vector<Hid> columns;  // open datasets, one per spec
  std::vector<bool> filtered;  // per column: shuffle + deflate (collective writes); else raw (independent)
  hsize_t rows = 0;          // rows written so far (all columns, all ranks)
};

// A string dataset created collectively whose data rank 0 writes in commit().
struct PendingStrings {
  std::string dataset;
  std::vector<std::string> values;  // one value for a scalar dataset
};

// ----- MPI helpers -----------------------------------------------------------------------

using Count = unsigned long long;  // MPI_UNSIGNED_LONG_LONG

void bcast_string(std::string& s, MPI_Comm comm) {
  Count n = s.size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, comm);
  s.resize(n);
  if (n > 0) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, 0, comm);
}

// Collective: rank 0 runs `f` alone; then every rank returns, or every rank throws: rank 0
// its own exception, the others the same type (InputError stays InputError, so exit 2).
template <class F>
void on_rank0(MPI_Comm comm, int rank, F&& f) {
  int kind = 0;  // 0 ok, 1 InputError, 2 anything else
  std::string file, key, message;
  std::exception_ptr err;
  if (rank == 0) {
    try {
      f();
    } catch (const InputError& e) {
      err = std::current_exception();
      kind = 1;
      if (!e.problems().empty()) {
        file = e.problems().front().file;
        key = e.problems().front().key;
        message = e.problems().front().message;
      }
    } catch (const std::exception& e) {
      err = std::current_exception();
      kind = 2;
      message = e.what();
    }
  }
  MPI_Bcast(&kind, 1, MPI_INT, 0, comm);
  if (kind == 0) return;
  bcast_string(file, comm);
  bcast_string(key, comm);
  bcast_string(message, comm);
  if (err) std::rethrow_exception(err);
  if (kind == 1) throw InputError(file, key, message);
  throw InternalError(message);
}

// Collective agreement after a step each rank ran on its own data (`err` set if it failed):
// returns the sum of `n` over the ranks, or throws on every rank — its own error, or
// InternalError(`elsewhere`) where this rank's part was fine.
Count agree(Count n, const std::exception_ptr& err, MPI_Comm comm, const std::string& elsewhere) {
  const std::array<Count, 2> mine{err ? 0 : n, err ? 1u : 0u};
  std::array<Count, 2> sum{};
  MPI_Allreduce(mine.data(), sum.data(), 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
  if (err) std::rethrow_exception(err);
  if (sum[1] > 0) throw InternalError(elsewhere);
  return sum[0];
}

// Turns at independent writes among the ranks of one node. Buffered writes to one file from
// several processes at once contend for its inode lock: on this 2-vCPU VM two ranks took 2.7 s
// for the uncompressed firm panel one rank writes in 0.4 s (docs/PERFORMANCE.md). In turn,
// node rank k writes after k − 1, the next round after the last rank's; a turn is a 0-byte
// message. Every rank takes every round, written or not, so none waits for ever.
class WriteTurns {
 public:
  WriteTurns(MPI_Comm node, int rounds) : node_(node), rounds_(rounds) {
    MPI_Comm_rank(node_, &rank_);
    MPI_Comm_size(node_, &size_);
  }
  void take() {
    if (size_ > 1 && (rank_ > 0 || round_ > 0))
      MPI_Recv(nullptr, 0, MPI_BYTE, (rank_ + size_ - 1) % size_, kTag, node_, MPI_STATUS_IGNORE);
  }
  void give() {
    if (size_ > 1 && (rank_ + 1 < size_ || round_ + 1 < rounds_))
      MPI_Send(nullptr, 0, MPI_BYTE, (rank_ + 1) % size_, kTag, node_);
    ++round_;
  }
  // fn() in this rank's turn of one round; its exception, if any, once the turn is passed on.
  template <class F>
  std::exception_ptr turn(F&& fn) {
    std::exception_ptr err;
    take();
    try {
      fn();
    } catch (...) {
      err = std::current_exception();
    }
    give();
    return err;
  }

 private:
  static constexpr int kTag = 7;
  MPI_Comm node_;
  int rounds_, rank_ = 0, size_ = 1, round_ = 0;
};

// Exclusive prefix sum of `n` in rank order: where this rank's rows start.
Count offset_of(Count n, MPI_Comm comm, int rank) {
  Count before = 0;
  MPI_Exscan(&n, &before, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
  return rank == 0 ? 0 : before;  // MPI leaves rank 0's result undefined
}

// Collective: every rank's strings, concatenated in rank order, on rank 0 (empty elsewhere).
std::vector<std::string> gather_strings(const std::vector<std::string>& mine, MPI_Comm comm,
                                        int rank, int size, const std::string& what) {
  std::vector<Count> lengths;
  lengths.reserve(mine.size());
  std::string bytes;
  for (const auto& s : mine) {
    lengths.push_back(s.size());
    bytes += s;
  }
  const std::array<Count, 2> local{mine.size(), bytes.size()};
  std::vector<Count> all(2 * static_cast<std::size_t>(size));
  MPI_Allgather(local.data(), 2, MPI_UNSIGNED_LONG_LONG, all.data(), 2, MPI_UNSIGNED_LONG_LONG,
                comm);
  // MPI counts are int; every rank sees the same totals, so all ranks throw together.
  Count strings = 0, chars = 0;
  for (int r = 0; r < size; ++r) {
    strings += all[2 * r];
    chars += all[2 * r + 1];
  }
  if (strings > INT_MAX || chars > INT_MAX)
    throw InternalError(fmt::format("{}: {} strings of {} bytes in total are too many to gather",
                                    what, strings, chars));
  std::vector<int> n_counts(size), n_displs(size), c_counts(size), c_displs(size);
  for (int r = 0, n = 0, c = 0; r < size; ++r) {
    n_counts[r] = static_cast<int>(all[2 * r]);
    c_counts[r] = static_cast<int>(all[2 * r + 1]);
    n_displs[r] = n;
    c_displs[r] = c;
    n += n_counts[r];
    c += c_counts[r];
  }
  const bool root = rank == 0;
  std::vector<Count> all_lengths(root ? strings : 0);
  std::string all_bytes(root ? chars : 0, '\0');
  MPI_Gatherv(lengths.data(), static_cast<int>(lengths.size()), MPI_UNSIGNED_LONG_LONG,
              all_lengths.data(), n_counts.data(), n_displs.data(), MPI_UNSIGNED_LONG_LONG, 0,
              comm);
  MPI_Gatherv(bytes.data(), static_cast<int>(bytes.size()), MPI_CHAR, all_bytes.data(),
              c_counts.data(), c_displs.data(), MPI_CHAR, 0, comm);
  std::vector<std::string> out;
  out.reserve(all_lengths.size());
  std::size_t at = 0;
  for (const Count len : all_lengths) {
    out.push_back(all_bytes.substr(at, len));
    at += len;
  }
  return out;
}

// Serial (rank 0, after the parallel handle is closed): the string data into its datasets.
void write_pending_strings(const std::string& file_path, const std::vector<PendingStrings>& all) {
  Hid fapl = plist(H5P_FILE_ACCESS, file_path);
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_SEMI), "H5Pset_fclose_degree", file_path);
  Hid file = make(H5Fopen(file_path.c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose, "H5Fopen",
                  file_path);
  for (const auto& p : all) {
    Hid dset = make(H5Dopen2(file.get(), p.dataset.c_str(), H5P_DEFAULT), H5Dclose, "H5Dopen2",
                    p.dataset);
    write_all_strings(dset.get(), p.values, p.dataset);
  }
  check(file.close(), "H5Fclose", file_path);
}

}  // namespace

void check_output_path(const std::string& path, bool force, const std::string& option) {
  if (path.empty()) throw InputError("", option, "the output path is empty");
  const std::string partial = path + ".partial";
  const fs::path p(path);
  std::error_code ec;
  const auto st = fs::status(p, ec);
  if (fs::exists(st)) {
    if (!force) throw InputError(path, option, "exists; use --force to replace it");
    if (fs::is_directory(st)) throw InputError(path, option, "is a folder");
  }
  fs::path parent = p.parent_path();
  if (parent.empty()) parent = ".";
  const auto pst = fs::status(parent, ec);
  if (!fs::exists(pst))
    throw InputError(path, option, fmt::format("folder {} does not exist", parent.string()));
  if (!fs::is_directory(pst))
    throw InputError(path, option, fmt::format("{} is not a folder", parent.string()));
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    throw InputError(path, option, fmt::format("folder {} is not writable", parent.string()));
  if (fs::is_directory(fs::status(partial, ec)))
    throw InputError(partial, option, "is a folder");
}

struct PanelFile::Impl {
  std::string path;
  std::string partial;
  bool force = false;
  MPI_Comm comm = MPI_COMM_NULL;  // our duplicate: our collectives never meet the caller's
  MPI_Comm node = MPI_COMM_NULL;  // the ranks of comm on this node (WriteTurns)
  int rank = 0;
  int size = 1;
  Hid file;
  Hid xfer;  // dataset transfer list: collective MPI-IO
  Hid independent;  // the same, independent MPI-IO
  std::map<std::string, Panel> panels;
  std::vector<std::string> panel_order;  // creation order
  std::vector<PendingStrings> strings;  // rank 0 only; written in commit()
  unsigned deflate = kDeflateLevel;  // for panels created from now on; 0: no filters
  bool created = false;     // the partial file is ours (remove it unless committed)
  bool committed = false;   // renamed onto path: inert from now on
  bool keep_partial = false;
  bool broken = false;      // a write failed half way: refuse to commit

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    panels.clear();
    xfer.reset();
    independent.reset();
    file.reset();  // collective under MPI-IO
    if (rank == 0 && created && !committed && !keep_partial) {
      std::error_code ec;
      fs::remove(partial, ec);
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (node != MPI_COMM_NULL && !finalized) MPI_Comm_free(&node);
    if (comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
  }

  void require_writable(std::string_view op) const {
    if (committed) throw InternalError(fmt::format("{}: {} after commit()", path, op));
    if (!file.valid()) throw InternalError(fmt::format("{}: {} after a failed commit()", path, op));
  }

  // Runs a write; if it throws, the file may be half-written and must not be committed.
  template <class F>
  void guarded(std::string_view op, F&& f) {
    require_writable(op);
    try {
      f();
    } catch (...) {
      broken = true;
      throw;
    }
  }

  // Both forms of write_table: `err` is this rank's error from checks made before anything
  // is written (then every rank throws, and the file is as it was).
  void write_table(const std::string& g, const std::vector<ColumnSpec>& specs, std::uint64_t rows,
                   std::vector<unsigned long long> width, const std::exception_ptr& err,
                   const PanelFile::TableFill& fill);
};

PanelFile::PanelFile(std::string path, bool force)
    : PanelFile(std::move(path), force, MPI_COMM_WORLD) {}

PanelFile::PanelFile(std::string path, bool force, MPI_Comm comm)
    : impl_(std::make_unique<Impl>()) {
  silence_hdf5();
  install_fast_shuffle();
  Impl& m = *impl_;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    throw InternalError("PanelFile needs MPI: call MPI_Init before and MPI_Finalize after");
  MPI_Comm_dup(comm, &m.comm);
  MPI_Comm_rank(m.comm, &m.rank);
  MPI_Comm_size(m.comm, &m.size);
  MPI_Comm_split_type(m.comm, MPI_COMM_TYPE_SHARED, m.rank, MPI_INFO_NULL, &m.node);
  m.path = std::move(path);
  m.partial = m.path + ".partial";
  m.force = force;

  // One process looks at the file system, so every rank reports the same problem.
  on_rank0(m.comm, m.rank, [&] {
    check_output_path(m.path, force, "--out");
    std::error_code ec;
    fs::remove(m.partial, ec);  // a stale partial from a crashed run
  });

  Hid fcpl = plist(H5P_FILE_CREATE, m.partial);
  check(H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_link_creation_order", m.partial);
  check(H5Pset_attr_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
        "H5Pset_attr_creation_order", m.partial);
  Hid fapl = plist(H5P_FILE_ACCESS, m.partial);
  check(H5Pset_fapl_mpio(fapl.get(), m.comm, MPI_INFO_NULL), "H5Pset_fapl_mpio", m.partial);
  // SEMI: H5Fclose fails if any object is still open, so a leaked handle cannot go unnoticed.
  check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_SEMI), "H5Pset_fclose_degree", m.partial);
  const hid_t f = H5Fcreate(m.partial.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (f < 0)
    throw InputError(m.partial, "--out", fmt::format("cannot create: {}", hdf5_message()));
  m.file = Hid(f, H5Fclose);
  m.created = true;
  m.xfer = plist(H5P_DATASET_XFER, m.partial);
  check(H5Pset_dxpl_mpio(m.xfer.get(), H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio", m.partial);
  m.independent = plist(H5P_DATASET_XFER, m.partial);
  check(H5Pset_dxpl_mpio(m.independent.get(), H5FD_MPIO_INDEPENDENT), "H5Pset_dxpl_mpio", m.partial);
}

PanelFile::~PanelFile() = default;

const std::string& PanelFile::path() const { return impl_->path; }
std::string PanelFile::partial_path() const { return impl_->partial; }

void PanelFile::set_attributes(const std::string& group, const std::vector<Attribute>& attrs) {
  Impl& m = *impl_;
  // Variable-length string attributes are fine under MPI-IO (same value on every rank).
  m.guarded("set_attributes", [&] {
    const std::string g = normalize(group);
    if (g != "/" && !link_exists(m.file.get(), g)) ensure_group(m.file.get(), g);
    Hid obj = open_object(m.file.get(), g);
    for (const auto& a : attrs) write_attribute(obj.get(), a, g);
  });
}

void PanelFile::write_text(const std::string& dataset, const std::string& text) {
  Impl& m = *impl_;
  const std::string d = normalize(dataset);
  m.require_writable("write_text");
  require_leaf(d, "write_text");
  require_no_nul(text, d);
  m.guarded("write_text", [&] {
    ensure_group(m.file.get(), parent_of(d));
    Hid type = vlen_utf8(d);
    Hid space = scalar_space(d);
    make(H5Dcreate2(m.file.get(), d.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                    H5P_DEFAULT),
         H5Dclose, "H5Dcreate2", d);
    if (m.rank == 0) m.strings.push_back({d, {text}});
  });
}

void PanelFile::write_strings(const std::string& dataset, const std::vector<std::string>& values) {
  Impl& m = *impl_;
  const std::string d = normalize(dataset);
  m.require_writable("write_strings");
  require_leaf(d, "write_strings");
  for (const auto& v : values) require_no_nul(v, d);
  m.guarded("write_strings", [&] {
    ensure_group(m.file.get(), parent_of(d));
    Hid type = vlen_utf8(d);
    Hid space = simple_space(values.size(), d);
    make(H5Dcreate2(m.file.get(), d.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                    H5P_DEFAULT),
         H5Dclose, "H5Dcreate2", d);
    if (m.rank == 0 && !values.empty()) m.strings.push_back({d, values});
  });
}

// Rows per block of write_table: a million firms' /meta/firms in 16 blocks of ≈ 8 MB.
constexpr std::uint64_t kTableBlockRows = std::uint64_t{1} << 16;

void PanelFile::Impl::write_table(const std::string& g, const std::vector<ColumnSpec>& specs, std::uint64_t rows,
                                  std::vector<unsigned long long> width, const std::exception_ptr& err,
                                  const PanelFile::TableFill& fill) {
  const hsize_t total =
      agree(rows, err, comm, fmt::format("write_table {}: another rank's rows were rejected", g));
  const hsize_t offset = offset_of(rows, comm, rank);
  // String columns are fixed-length (NUL-padded UTF-8, as wide as the widest on any rank):
  // each rank writes its own rows, as for numbers. Variable-length strings would go through
  // rank 0 alone (parallel HDF5 cannot write them) — at a million firms that was seconds and
  // hundreds of MB on rank 0.
  MPI_Allreduce(MPI_IN_PLACE, width.data(), static_cast<int>(width.size()), MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm);
  guarded("write_table", [&] {
    Hid grp = create_group(file.get(), g);
    Hid dcpl = written_in_full(g);
    std::vector<std::string> names;
    std::vector<Hid> sets, types;
    for (std::size_t c = 0; c < specs.size(); ++c) {
      const auto& spec = specs[c];
      const std::string& d = names.emplace_back(child_path(g, spec.name));
      Hid space = simple_space(total, d);
      Hid type = spec.type == ColumnType::str ? fixed_utf8(width[c], d) : Hid();
      const hid_t ftype = spec.type == ColumnType::str ? type.get() : file_type(spec.type);
      Hid dset = make(H5Dcreate2(file.get(), d.c_str(), ftype, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                      H5Dclose, "H5Dcreate2", d);
      write_column_attributes(dset.get(), spec, d);
      sets.push_back(std::move(dset));
      types.push_back(std::move(type));
    }
    // Each rank writes its own rows of the (contiguous, allocated at creation) datasets, a
    // block at a time: nothing to coordinate, so independent transfers, without MPI-IO's
    // collective buffering. The node's ranks take turns (WriteTurns), one round per block of
    // the rank with the most; a block is made outside the rank's turn, while another writes.
    std::uint64_t rounds = (rows + kTableBlockRows - 1) / kTableBlockRows;
    MPI_Allreduce(MPI_IN_PLACE, &rounds, 1, MPI_UINT64_T, MPI_MAX, node);
    WriteTurns turns(node, static_cast<int>(rounds));
    std::exception_ptr failed;
    Table block;
    for (const auto& spec : specs) block.add(spec);
    std::vector<char> buffer;
    for (std::uint64_t k = 0; k < rounds; ++k) {
      const std::uint64_t first = k * kTableBlockRows;
      const std::uint64_t n = first < rows ? std::min(kTableBlockRows, rows - first) : 0;
      if (!failed && n > 0) {
        try {
          block.clear_rows();
          fill(first, n, block);
          check_table_shape(block, g);
          if (block.rows() != n)
            throw InternalError(fmt::format("write_table {}: {} rows asked for, {} given", g, n, block.rows()));
        } catch (...) {
          failed = std::current_exception();
        }
      }
      std::exception_ptr e = turns.turn([&] {
        if (failed || n == 0) return;
        for (std::size_t c = 0; c < specs.size(); ++c) {
          if (specs[c].type == ColumnType::str)
            write_fixed_strings(sets[c].get(), types[c].get(), block.str(c), width[c], offset + first,
                                independent.get(), names[c], buffer);
          else
            write_rows(sets[c].get(), block.columns[c], offset + first, independent.get(), names[c]);
        }
      });
      if (e && !failed) failed = e;
    }
    agree(0, failed, comm, fmt::format("write_table {}: another rank failed to write its rows", g));
  });
}

void PanelFile::write_table(const std::string& group, const Table& table) {
  Impl& m = *impl_;
  const std::string g = normalize(group);
  m.require_writable("write_table");
  // Each rank checks its own rows before anything is written: a shape error leaves no trace.
  std::exception_ptr err;
  std::vector<unsigned long long> width(table.specs.size(), 1);
  try {
    check_table_shape(table, g);
    for (std::size_t c = 0; c < table.specs.size(); ++c)
      if (table.specs[c].type == ColumnType::str) {
        const std::string where = child_path(g, table.specs[c].name);  // (once: a million firms' rows)
        for (const auto& s : std::get<std::vector<std::string>>(table.columns[c])) {
          require_no_nul(s, where);
          width[c] = std::max<unsigned long long>(width[c], s.size());
        }
      }
  } catch (...) {
    err = std::current_exception();
  }
  m.write_table(g, table.specs, err ? 0 : table.rows(), std::move(width), err,
                [&](std::uint64_t first, std::uint64_t count, Table& block) {
                  for (std::size_t c = 0; c < table.columns.size(); ++c)
                    std::visit([&](const auto& from) {
                      auto& to = std::get<std::decay_t<decltype(from)>>(block.columns[c]);
                      const auto b = from.begin() + static_cast<std::ptrdiff_t>(first);
                      to.insert(to.end(), b, b + static_cast<std::ptrdiff_t>(count));
                    }, table.columns[c]);
                });
}

void PanelFile::write_table(const std::string& group, const std::vector<ColumnSpec>& specs, std::uint64_t rows,
                            std::span<const std::size_t> string_width, const TableFill& fill) {
  Impl& m = *impl_;
  const std::string g = normalize(group);
  m.require_writable("write_table");
  std::exception_ptr err;
  std::vector<unsigned long long> width(specs.size(), 1);
  try {
    Table empty;
    for (const auto& spec : specs) empty.add(spec);
    check_table_shape(empty, g);
    if (string_width.size() != specs.size())
      throw InternalError(fmt::format("write_table {}: {} widths for {} columns", g, string_width.size(), specs.size()));
    for (std::size_t c = 0; c < specs.size(); ++c)
      if (specs[c].type == ColumnType::str) width[c] = std::max<unsigned long long>(1, string_width[c]);
  } catch (...) {
    err = std::current_exception();
  }
  m.write_table(g, specs, rows, std::move(width), err, fill);
}

void PanelFile::set_deflate(int level) {
  if (level < 0 || level > 9) throw InternalError(fmt::format("deflate level {} (0..9)", level));
  impl_->deflate = static_cast<unsigned>(level);
}

void PanelFile::create_panel(const std::string& group, const std::vector<ColumnSpec>& columns) {
  Impl& m = *impl_;
  const std::string g = normalize(group);
  // Declaration errors are caught before anything is written.
  m.require_writable("create_panel");
  if (m.panels.contains(g)) throw InternalError(fmt::format("panel {} created twice", g));
  if (columns.empty()) throw InternalError(fmt::format("panel {} has no columns", g));
  std::set<std::string> names;
  for (const auto& spec : columns) {
    require_column_name(spec.name, g);
    if (!names.insert(spec.name).second)
      throw InternalError(fmt::format("panel {}: column {} appears twice", g, spec.name));
    if (spec.type == ColumnType::str)
      throw InternalError(
          fmt::format("panel {}: column {} is a string; panels hold numbers only", g, spec.name));
  }
  m.guarded("create_panel", [&] {
    Hid grp = create_group(m.file.get(), g);
    const hsize_t chunk = PanelFile::kChunkRows;
    Hid filtered = plist(H5P_DATASET_CREATE, g), raw = plist(H5P_DATASET_CREATE, g);
    check(H5Pset_chunk(filtered.get(), 1, &chunk), "H5Pset_chunk", g);
    check(H5Pset_chunk(raw.get(), 1, &chunk), "H5Pset_chunk", g);
    if (m.deflate > 0) {
      check(H5Pset_shuffle(filtered.get()), "H5Pset_shuffle", g);
      check(H5Pset_deflate(filtered.get(), m.deflate), "H5Pset_deflate", g);
    }
    // Every appended row is written right after the extent grows: HDF5's fill values (zeros,
    // written in full on every extend under MPI-IO's early allocation) would only be
    // overwritten. (With filters HDF5 writes them regardless, as one compressed chunk.)
    check(H5Pset_fill_time(raw.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time", g);
    Panel panel;
    panel.specs = columns;
    for (const auto& spec : columns) {
      const std::string d = child_path(g, spec.name);
      const bool filter = m.deflate > 0 && spec.compress;
      panel.filtered.push_back(filter);
      Hid space = simple_space(0, d, /*unlimited=*/true);
      Hid dset = make(H5Dcreate2(m.file.get(), d.c_str(), file_type(spec.type), space.get(),
                                 H5P_DEFAULT, filter ? filtered.get() : raw.get(), H5P_DEFAULT),
                      H5Dclose, "H5Dcreate2", d);
      write_column_attributes(dset.get(), spec, d);
      panel.columns.push_back(std::move(dset));
    }
    m.panels.emplace(g, std::move(panel));
    m.panel_order.push_back(g);
  });
}

void PanelFile::append(const std::string& group, const Table& rows) {
  const std::uint64_t all = rows.rows();
  append(group, rows, std::span(&all, 1));
}

void PanelFile::append(const std::string& group, const Table& rows, std::span<const std::uint64_t> segments) {
  Impl& m = *impl_;
  const std::string g = normalize(group);
  m.require_writable("append");
  // Each rank checks its own rows; shape errors are agreed on before anything is written, so
  // they leave the file consistent and no rank waits for the others.
  std::exception_ptr err;
  Panel* panel = nullptr;
  try {
    const auto it = m.panels.find(g);
    if (it == m.panels.end())
      throw InternalError(fmt::format("append to {}: no such panel (create_panel first)", g));
    panel = &it->second;
    if (rows.specs.size() != panel->specs.size())
      throw InternalError(fmt::format("append to {}: {} columns, the panel has {}", g,
                                      rows.specs.size(), panel->specs.size()));
    for (std::size_t c = 0; c < rows.specs.size(); ++c) {
      const auto& want = panel->specs[c];
      const auto& got = rows.specs[c];
      if (got.name != want.name || got.type != want.type)
        throw InternalError(fmt::format("append to {}: column {} is {} {}, the panel has {} {}",
                                        g, c, got.name, type_name(got.type), want.name,
                                        type_name(want.type)));
    }
    check_table_shape(rows, g);
    Count in_segments = 0;
    for (auto c : segments) in_segments += c;
    if (in_segments != rows.rows())
      throw InternalError(fmt::format("append to {}: segments hold {} rows, the table {}", g, in_segments,
                                      rows.rows()));
  } catch (...) {
    err = std::current_exception();
  }
  const hsize_t n = rows.rows();
  const hsize_t total =
      agree(n, err, m.comm, fmt::format("append to {}: another rank's rows were rejected", g));
  if (total == 0) return;
  // Every rank's segment sizes: segment k of all ranks (in rank order) precedes segment k+1.
  const std::size_t K = segments.size();
  std::uint64_t k_range[2] = {K, ~std::uint64_t{K}};
  MPI_Allreduce(MPI_IN_PLACE, k_range, 2, MPI_UINT64_T, MPI_MAX, m.comm);
  if (k_range[0] != K || ~k_range[1] != K)
    throw InternalError(fmt::format("append to {}: ranks disagree on the number of segments", g));
  std::vector<std::uint64_t> counts(K * static_cast<std::size_t>(m.size));
  MPI_Allgather(segments.data(), static_cast<int>(K), MPI_UINT64_T, counts.data(), static_cast<int>(K),
                MPI_UINT64_T, m.comm);
  std::vector<std::pair<hsize_t, hsize_t>> blocks(K);
  hsize_t base = panel->rows;
  for (std::size_t k = 0; k < K; ++k) {
    hsize_t at = base;
    for (int q = 0; q < m.size; ++q) {
      const hsize_t c = counts[static_cast<std::size_t>(q) * K + k];
      if (q == m.rank) blocks[k] = {at, c};
      at += c;
    }
    base = at;
  }

  m.guarded("append", [&] {
    const hsize_t extent = panel->rows + total;
    for (std::size_t c = 0; c < panel->columns.size(); ++c)
      check(H5Dset_extent(panel->columns[c].get(), &extent), "H5Dset_extent",
            child_path(g, panel->specs[c].name));
    // Filtered columns need collective writes (parallel HDF5 compresses and places their chunks
    // together); an unfiltered column's chunks were allocated by the (collective) extend, so
    // each rank writes its own rows to them independently, without MPI-IO's collective steps
    // (slower here even on one rank), after the filtered ones, in turns with the node's ranks.
    for (std::size_t c = 0; c < panel->columns.size(); ++c)
      if (panel->filtered[c])
        write_rows(panel->columns[c].get(), rows.columns[c], blocks, m.xfer.get(), child_path(g, panel->specs[c].name));
    // (No turns when every column is filtered, as in small worlds: the same on every rank.)
    if (std::find(panel->filtered.begin(), panel->filtered.end(), false) != panel->filtered.end()) {
      WriteTurns turns(m.node, 1);
      const std::exception_ptr err = turns.turn([&] {
        for (std::size_t c = 0; c < panel->columns.size(); ++c)
          if (!panel->filtered[c])
            write_rows(panel->columns[c].get(), rows.columns[c], blocks, m.independent.get(),
                       child_path(g, panel->specs[c].name));
      });
      if (err) std::rethrow_exception(err);
    }
    panel->rows = extent;
  });
}

void PanelFile::commit() {
  Impl& m = *impl_;
  m.require_writable("commit");
  std::exception_ptr err;
  if (m.broken) {
    err = std::make_exception_ptr(InternalError(
        fmt::format("{}: not committed because an earlier write failed", m.path)));
  }
  agree(0, err, m.comm,
        fmt::format("{}: not committed because an earlier write failed on another rank", m.path));

  // Close the parallel handle (collective), so rank 0 can reopen the file alone.
  try {
    for (auto& [name, panel] : m.panels)
      for (std::size_t c = 0; c < panel.columns.size(); ++c)
        check(panel.columns[c].close(), "H5Dclose", child_path(name, panel.specs[c].name));
    m.panels.clear();
    check(m.xfer.close(), "H5Pclose", "transfer property list");
    check(m.independent.close(), "H5Pclose", "transfer property list");
    check(m.file.close(), "H5Fclose", m.partial);
  } catch (...) {
    err = std::current_exception();
  }
  agree(0, err, m.comm, fmt::format("{}: closing failed on another rank", m.partial));

  on_rank0(m.comm, m.rank, [&] {
    if (!m.strings.empty()) write_pending_strings(m.partial, m.strings);
    m.strings.clear();
    // Without --force, never replace a file that appeared while we were writing.
    if (!m.force) {
      if (::renameat2(AT_FDCWD, m.partial.c_str(), AT_FDCWD, m.path.c_str(), RENAME_NOREPLACE) ==
          0)
        return;
      const int e = errno;
      if (e == EEXIST) {
        m.keep_partial = true;
        throw InputError(m.path, "--out",
                         fmt::format("appeared while this run was writing; not replaced (the "
                                     "result is in {})",
                                     m.partial));
      }
      if (e != EINVAL && e != ENOSYS)  // else: the file system lacks RENAME_NOREPLACE
        throw InternalError(fmt::format("cannot rename {} to {}: {}", m.partial, m.path,
                                        std::strerror(e)));
    }
    if (std::rename(m.partial.c_str(), m.path.c_str()) != 0)
      throw InternalError(
          fmt::format("cannot rename {} to {}: {}", m.partial, m.path, std::strerror(errno)));
  });
  // on_rank0 returned on every rank: the file is in place.
  m.committed = true;
}

MPI_Comm PanelFile::communicator() const { return impl_->comm; }

std::vector<std::string> PanelFile::panels() const { return impl_->panel_order; }

namespace {
template <class Panels>
auto& find_panel(Panels& panels, const std::string& group) {
  const auto it = panels.find(normalize(group));
  if (it == panels.end()) throw InternalError(fmt::format("{}: no such panel", group));
  return it->second;
}
}  // namespace

const std::vector<ColumnSpec>& PanelFile::panel_columns(const std::string& group) const {
  return find_panel(impl_->panels, group).specs;
}

std::uint64_t PanelFile::panel_rows(const std::string& group) const {
  return find_panel(impl_->panels, group).rows;
}

Table PanelFile::read_panel(const std::string& group, std::uint64_t offset, std::uint64_t count) {
  Impl& m = *impl_;
  m.require_writable("read_panel");
  const std::string g = normalize(group);
  Panel& panel = find_panel(m.panels, g);
  // Ranges are checked on every rank before the collective reads.
  std::exception_ptr err;
  if (offset + count > panel.rows)
    err = std::make_exception_ptr(InternalError(fmt::format(
        "read_panel {}: rows {}..{} of {}", g, offset, offset + count, panel.rows)));
  agree(0, err, m.comm, fmt::format("read_panel {}: another rank's range is out of bounds", g));
  Table t;
  for (std::size_t c = 0; c < panel.specs.size(); ++c) {
    const std::string d = child_path(g, panel.specs[c].name);
    t.specs.push_back(panel.specs[c]);
    t.columns.push_back(read_numeric_rows(panel.columns[c].get(), panel.specs[c].type, offset, count,
                                          m.xfer.get(), d));
  }
  return t;
}

void PanelFile::write_array(const std::string& dataset, const ColumnData& values) {
  Impl& m = *impl_;
  const std::string d = normalize(dataset);
  m.require_writable("write_array");
  require_leaf(d, "write_array");
  const bool text = std::holds_alternative<std::vector<std::string>>(values);
  std::exception_ptr err;
  try {
    if (text)
      for (const auto& v : std::get<std::vector<std::string>>(values)) require_no_nul(v, d);
  } catch (...) {
    err = std::current_exception();
  }
  const hsize_t n = column_size(values);
  const hsize_t total =
      agree(n, err, m.comm, fmt::format("write_array {}: another rank's values were rejected", d));
  const hsize_t offset = offset_of(n, m.comm, m.rank);
  m.guarded("write_array", [&] {
    ensure_group(m.file.get(), parent_of(d));
    Hid space = simple_space(total, d);
    Hid type = text ? vlen_utf8(d) : Hid();
    constexpr ColumnType kTypes[] = {ColumnType::i32, ColumnType::i64, ColumnType::f64};
    const hid_t ftype = text ? type.get() : file_type(kTypes[values.index()]);
    Hid dcpl = text ? plist(H5P_DATASET_CREATE, d) : written_in_full(d);
    Hid dset = make(H5Dcreate2(m.file.get(), d.c_str(), ftype, space.get(), H5P_DEFAULT,
                               dcpl.get(), H5P_DEFAULT),
                    H5Dclose, "H5Dcreate2", d);
    if (text) {
      auto all = gather_strings(std::get<std::vector<std::string>>(values), m.comm, m.rank, m.size, d);
      if (m.rank == 0 && total > 0) m.strings.push_back({d, std::move(all)});
    } else if (total > 0) {
      write_rows(dset.get(), values, offset, m.xfer.get(), d);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Readers

std::string describe_file(const std::string& path) {
  Hid file = open_panel_file(path);
  std::string out = fmt::format("{}\n", path);
  const auto attrs = read_attributes(file.get(), "/");
  std::size_t w = 0;
  for (const auto& a : attrs) w = std::max(w, a.name.size());
  for (const auto& a : attrs) out += fmt::format("  {:<{}} = {}\n", a.name, w, format_attr(a.value));
  describe_group(file.get(), "/", out);
  return out;
}

std::vector<std::string> export_csv(const std::string& path, const std::string& dir) {
  Hid file = open_panel_file(path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw InputError(dir, "--csv",
                     fmt::format("cannot create folder: {}", ec ? ec.message() : "not a folder"));
  const fs::path out_dir(dir);
  CodesCache cache;
  std::vector<std::string> written;
  if (link_exists(file.get(), "/panel") && is_group(file.get(), "/panel")) {
    for (const auto& c : list_children(file.get(), "/panel"))
      if (c.type == H5I_GROUP)
        written.push_back(
            export_table(file.get(), "/panel/" + c.name, out_dir, c.name + ".csv", cache));
  }
  // A merged ensemble (decouple merge): the replicates table and the summaries.
  if (link_exists(file.get(), "/replicates") && is_group(file.get(), "/replicates"))
    written.push_back(export_table(file.get(), "/replicates", out_dir, "replicates.csv", cache));
  if (link_exists(file.get(), "/summary") && is_group(file.get(), "/summary")) {
    for (const auto& c : list_children(file.get(), "/summary"))
      if (c.type == H5I_GROUP)
        written.push_back(export_table(file.get(), "/summary/" + c.name, out_dir,
                                       "summary_" + c.name + ".csv", cache));
  }
  if (link_exists(file.get(), "/meta") && is_group(file.get(), "/meta")) {
    for (const auto& c : list_children(file.get(), "/meta")) {
      const std::string p = "/meta/" + c.name;
      const std::string name = "meta_" + c.name + ".csv";
      if (c.type == H5I_GROUP) {
        written.push_back(export_table(file.get(), p, out_dir, name, cache));
        continue;
      }
      std::vector<CsvColumn> cols;
      cols.push_back(csv_column(file.get(), p, "", cache));
      if (cols[0].data.rank != 1) continue;  // scalar text is not a table
      cols[0].header = cols[0].data.kind == Kind::text ? "id" : c.name;
      written.push_back(write_csv(out_dir, name, cols));
    }
  }
  return written;
}

// ---------------------------------------------------------------------------------------
// PanelReader (merge)

struct PanelReader::Impl {
  std::string path;
  Hid file;
};

PanelReader::PanelReader() : impl_(std::make_unique<Impl>()) {}

PanelReader::PanelReader(const std::string& path) : PanelReader() {
  impl_->path = path;
  impl_->file = open_panel_file(path);
}

PanelReader PanelReader::any_hdf5(const std::string& path, const std::string& key) {
  silence_hdf5();
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) throw InputError(path, key, "no such file");
  if (fs::is_directory(st)) throw InputError(path, key, "is a folder, not an HDF5 file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(path, key, "not an HDF5 file");
  }
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw InputError(path, key, fmt::format("cannot open: {}", hdf5_message()));
  PanelReader r;
  r.impl_->path = path;
  r.impl_->file = Hid(f, H5Fclose);
  return r;
}

PanelReader::~PanelReader() = default;
PanelReader::PanelReader(PanelReader&&) noexcept = default;
PanelReader& PanelReader::operator=(PanelReader&&) noexcept = default;

const std::string& PanelReader::path() const { return impl_->path; }

bool PanelReader::exists(const std::string& object) const {
  const std::string p = normalize(object);
  if (p == "/") return true;
  // Each parent must exist before H5Lexists may be asked about the child.
  std::string at;
  for (const auto& c : components(p)) {
    at += "/" + c;
    if (!link_exists(impl_->file.get(), at)) return false;
  }
  return true;
}

std::vector<Attribute> PanelReader::attributes(const std::string& object) const {
  const std::string p = normalize(object);
  Hid obj = open_object(impl_->file.get(), p);
  std::vector<Attribute> out;
  for (auto& a : read_attributes(obj.get(), p))
    if (a.value) out.push_back({a.name, *a.value});
  return out;
}

std::optional<PanelReader::Value> PanelReader::attribute(const std::string& object,
                                                         const std::string& name) const {
  const std::string p = normalize(object);
  Hid obj = open_object(impl_->file.get(), p);
  return read_attribute(obj.get(), name.c_str(), p);
}

std::vector<std::string> PanelReader::groups(const std::string& group) const {
  std::vector<std::string> out;
  for (auto& c : list_children(impl_->file.get(), normalize(group)))
    if (c.type == H5I_GROUP) out.push_back(c.name);
  return out;
}

std::vector<std::string> PanelReader::datasets(const std::string& group) const {
  std::vector<std::string> out;
  for (auto& c : list_children(impl_->file.get(), normalize(group)))
    if (c.type == H5I_DATASET) out.push_back(c.name);
  return out;
}

std::string PanelReader::text(const std::string& dataset) const {
  Dataset d = open_dataset(impl_->file.get(), normalize(dataset));
  if (d.kind != Kind::text || d.rank != 0)
    throw InputError(impl_->path, dataset, "is not a scalar string dataset");
  ColumnData v;
  read_rows(d, 0, 1, v);
  return std::get<std::vector<std::string>>(v).at(0);
}

std::vector<std::string> PanelReader::strings(const std::string& dataset) const {
  return read_string_list(impl_->file.get(), normalize(dataset));
}

namespace {
ColumnType column_type(const Dataset& d, const std::string& file) {
  switch (d.kind) {
    case Kind::integer: {
      const std::size_t size = H5Tget_size(d.type.get());
      if (H5Tget_sign(d.type.get()) != H5T_SGN_NONE && size == 4) return ColumnType::i32;
      if (H5Tget_sign(d.type.get()) != H5T_SGN_NONE && size == 8) return ColumnType::i64;
      break;
    }
    case Kind::real:
      if (H5Tget_size(d.type.get()) == 8) return ColumnType::f64;
      break;
    case Kind::text: return ColumnType::str;
    case Kind::other: break;
  }
  throw InputError(file, d.path, fmt::format("unsupported column type {}", describe_type(d.type.get())));
}

template <class T>
void read_native(const Dataset& d, hid_t mem_type, hsize_t offset, hsize_t n, ColumnData& out) {
  std::vector<T> v(n);
  if (n > 0) {
    Hid fspace = make(H5Dget_space(d.id.get()), H5Sclose, "H5Dget_space", d.path);
    check(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &offset, nullptr, &n, nullptr),
          "H5Sselect_hyperslab", d.path);
    Hid mspace = simple_space(n, d.path);
    check(H5Dread(d.id.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, v.data()),
          "H5Dread", d.path);
  }
  out = std::move(v);
}
}  // namespace

ColumnData PanelReader::array(const std::string& dataset) const {
  const Dataset d = open_dataset(impl_->file.get(), normalize(dataset));
  if (d.rank != 1) throw InputError(impl_->path, d.path, "is not a 1-D dataset");
  const ColumnType t = column_type(d, impl_->path);
  ColumnData out;
  switch (t) {
    case ColumnType::i32: read_native<std::int32_t>(d, H5T_NATIVE_INT32, 0, d.rows, out); break;
    case ColumnType::i64: read_native<std::int64_t>(d, H5T_NATIVE_INT64, 0, d.rows, out); break;
    case ColumnType::f64: read_native<double>(d, H5T_NATIVE_DOUBLE, 0, d.rows, out); break;
    case ColumnType::str: read_rows(d, 0, d.rows, out); break;
  }
  return out;
}

std::vector<ColumnSpec> PanelReader::columns(const std::string& group) const {
  const std::string g = normalize(group);
  std::vector<ColumnSpec> out;
  for (const auto& c : list_children(impl_->file.get(), g)) {
    if (c.type != H5I_DATASET) continue;
    Dataset d = open_dataset(impl_->file.get(), child_path(g, c.name));
    if (d.rank != 1) continue;
    out.push_back({c.name, column_type(d, impl_->path), string_attribute(d.id.get(), "units", d.path),
                   string_attribute(d.id.get(), "description", d.path),
                   string_attribute(d.id.get(), "codes", d.path)});
  }
  return out;
}

std::uint64_t PanelReader::rows(const std::string& group) const {
  const std::string g = normalize(group);
  for (const auto& c : list_children(impl_->file.get(), g))
    if (c.type == H5I_DATASET) return open_dataset(impl_->file.get(), child_path(g, c.name)).rows;
  return 0;
}

void PanelReader::read(const std::string& group, const std::vector<ColumnSpec>& cols,
                       std::uint64_t offset, std::uint64_t n, Table& out) const {
  const std::string g = normalize(group);
  out = Table{};
  for (const auto& spec : cols) {
    out.add(spec);
    Dataset d = open_dataset(impl_->file.get(), child_path(g, spec.name));
    if (d.rank != 1 || offset + n > d.rows)
      throw InputError(impl_->path, d.path,
                       fmt::format("has {} rows, {} wanted from row {}", d.rows, n, offset));
    if (column_type(d, impl_->path) != spec.type)
      throw InputError(impl_->path, d.path, fmt::format("is {}, expected {}", describe_type(d.type.get()),
                                                        type_name(spec.type)));
    ColumnData& c = out.columns.back();
    switch (spec.type) {
      case ColumnType::i32: read_native<std::int32_t>(d, H5T_NATIVE_INT32, offset, n, c); break;
      case ColumnType::i64: read_native<std::int64_t>(d, H5T_NATIVE_INT64, offset, n, c); break;
      case ColumnType::f64: read_native<double>(d, H5T_NATIVE_DOUBLE, offset, n, c); break;
      case ColumnType::str: read_rows(d, offset, n, c); break;
    }
  }
}

// ---- CsvWriter --------------------------------------------------------------------------

CsvWriter::CsvWriter(const std::string& path, const std::string& option)
    : final_(path), partial_(path + ".partial"), option_(option) {
  out_.open(partial_, std::ios::binary | std::ios::trunc);
  if (!out_) throw InputError(partial_, option_, fmt::format("cannot write: {}", std::strerror(errno)));
}

CsvWriter::~CsvWriter() {
  if (!done_) {
    out_.close();
    std::error_code ec;
    std::filesystem::remove(partial_, ec);
  }
}

void CsvWriter::write(std::string& buf) {
  out_.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.clear();
  if (!out_) throw InputError(partial_, option_, "write failed (disk full?)");
}

const std::string& CsvWriter::finish() {
  out_.close();
  if (!out_) throw InputError(partial_, option_, "write failed (disk full?)");
  if (std::rename(partial_.c_str(), final_.c_str()) != 0)
    throw InputError(final_, option_, fmt::format("cannot rename {} into place: {}", partial_, std::strerror(errno)));
  done_ = true;
  return final_;
}

}  // namespace decouple
