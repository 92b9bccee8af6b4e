// PanelFile under MPI (run at 1, 2 and 3 ranks): every rank appends its own uneven share of a
// known global sequence of rows (some ranks none), and the committed file must hold exactly
// that sequence — the same datasets, attributes and strings whatever the number of ranks. Rank 0
// reads the file back with serial HDF5 and also compares it, object by object, with a file it
// writes alone on a 1-rank communicator. Error paths must throw on every rank, not hang.
#include "engine/panel_file.hpp"

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "support/h5_read.hpp"

namespace decouple {
namespace {

namespace fs = std::filesystem;
using test::H;
using test::read_fixed_strings;
using test::read_strings;
using test::vlen_type;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// ----- the global content (independent of the number of ranks) -------------------------

// Global rows per append to /panel/a: a no-op append, single rows, chunk boundaries crossed.
const std::vector<std::size_t> kBlocks = {5, 0, 70003, 1, 66000, 9};
std::size_t total_rows() {
  std::size_t n = 0;
  for (auto b : kBlocks) n += b;
  return n;
}

double x_of(std::size_t i) {
  switch (i) {
    case 0: return 0.1;
    case 1: return 1.0 / 3.0;
    case 2: return 1e-300;
    case 3: return -2.5e17;
    case 4: return std::numeric_limits<double>::max();
    case 5: return std::numeric_limits<double>::denorm_min();
    case 6: return -0.0;
    case 7: return std::numeric_limits<double>::quiet_NaN();
    default: return static_cast<double>(i) * 0.37 + 1e-7;
  }
}
std::int32_t period_of(std::size_t i) { return static_cast<std::int32_t>(i / 7); }
std::int64_t id_of(std::size_t i) { return static_cast<std::int64_t>(i) * 10'000'000'019LL - 5; }

// /panel/b: 3 rows per call, all from the last rank (rank 0 has none when there are several).
double y_of(std::size_t i) { return 1000.0 - static_cast<double>(i) / 8.0; }

const std::string kConfig = "[run]\nscenario = \"mpi-check\"  # é ü 中\nperiods = 12\n";
const std::vector<std::string> kRegions = {"HOME", "ABROAD", "Côte d'Ivoire", ""};
constexpr std::size_t kFirms = 11;
std::string firm_id(std::size_t i) {
  if (i == 3) return "";
  if (i == 4) return "Ünïcode, \"quoted\"\nnewline";
  return fmt::format("firm-{}", i);
}
std::int32_t firm_region(std::size_t i) { return static_cast<std::int32_t>(i % 4); }
double firm_capacity(std::size_t i) { return 1.5 * static_cast<double>(i) + 1.0 / 7.0; }
std::int64_t firm_entry(std::size_t i) { return static_cast<std::int64_t>(i) - 3; }

// Rank r's contiguous share of `block` rows in call k, by weight (r + k) % (size + 1): uneven,
// and as k varies, calls where some rank (rank 0 included) gets none and calls where all get some.
std::pair<std::size_t, std::size_t> share(std::size_t block, int rank, int size, std::size_t k) {
  std::vector<std::size_t> w(size);
  std::size_t sum = 0;
  for (int r = 0; r < size; ++r) sum += w[r] = (static_cast<std::size_t>(r) + k) % (size + 1);
  if (sum == 0) w[0] = sum = 1;
  std::size_t first = 0;
  int last = 0;
  for (int r = 0; r < size; ++r)
    if (w[r] > 0) last = r;
  for (int r = 0; r < size; ++r) {
    std::size_t n = block * w[r] / sum;
    if (r == last) n = block - first;
    if (r == rank) return {first, n};
    first += n;
  }
  return {first, 0};
}

std::vector<ColumnSpec> a_columns() {
  return {{"period", ColumnType::i32, "month", "period", ""},
          {"id", ColumnType::i64, "code", "entity", "/meta/firms/firm_id"},
          {"x", ColumnType::f64, "USD/t", "a value", ""}};
}
std::vector<ColumnSpec> b_columns() { return {{"y", ColumnType::f64, "t", "other", ""}}; }

Table a_rows(std::size_t first, std::size_t n) {
  Table t;
  for (auto& s : a_columns()) t.add(s);
  for (std::size_t i = first; i < first + n; ++i) {
    t.i32(0).push_back(period_of(i));
    t.i64(1).push_back(id_of(i));
    t.f64(2).push_back(x_of(i));
  }
  return t;
}
Table b_rows(std::size_t first, std::size_t n) {
  Table t;
  for (auto& s : b_columns()) t.add(s);
  for (std::size_t i = first; i < first + n; ++i) t.f64(0).push_back(y_of(i));
  return t;
}
Table firms_rows(std::size_t first, std::size_t n) {
  Table t;
  t.add({"firm_id", ColumnType::str, "", "firm id", ""});
  t.add({"region", ColumnType::i32, "code", "home region", "/meta/regions"});
  t.add({"capacity", ColumnType::f64, "t/month", "capacity", ""});
  t.add({"entry_period", ColumnType::i64, "period", "entry", ""});
  t.add({"name", ColumnType::str, "", "display name", ""});
  for (std::size_t i = first; i < first + n; ++i) {
    t.str(0).push_back(firm_id(i));
    t.i32(1).push_back(firm_region(i));
    t.f64(2).push_back(firm_capacity(i));
    t.i64(3).push_back(firm_entry(i));
    t.str(4).push_back("name " + firm_id(i));
  }
  return t;
}

constexpr std::size_t kBCalls = 4;

// Writes the whole content as rank `rank` of `size` (each rank its share of every table).
void write_content(PanelFile& f, int rank, int size) {
  f.set_attributes("/", {{"format", std::string("decouple-panel")},
                         {"scenario", std::string("mpi-check ü")},
                         {"seed", std::int64_t{-7}},
                         {"wall_seconds", 1.25}});
  f.write_text("/config", kConfig);
  f.write_strings("/meta/regions", kRegions);
  {
    const auto [first, n] = share(kFirms, rank, size, 4);
    f.write_table("/meta/firms", firms_rows(first, n));
  }
  {
    Table nothing;
    nothing.add({"id", ColumnType::str, "", "", ""});
    nothing.add({"v", ColumnType::f64, "", "", ""});
    f.write_table("/meta/nothing", nothing);  // 0 rows on every rank
  }
  f.write_strings("/meta/empty", {});
  f.create_panel("/panel/a", a_columns());
  f.create_panel("/panel/b", b_columns());
  std::size_t first = 0, b_first = 0;
  for (std::size_t k = 0; k < kBlocks.size(); ++k) {
    const auto [off, n] = share(kBlocks[k], rank, size, k);
    f.append("/panel/a", a_rows(first + off, n));
    first += kBlocks[k];
    if (k < kBCalls) {
      const bool last = rank == size - 1;
      f.append("/panel/b", b_rows(last ? b_first : 0, last ? 3 : 0));
      b_first += 3;
    }
  }
  f.set_attributes("/", {{"seed", std::string("replaced")}});
  f.set_attributes("/panel/a", {{"level", 2.0}});
}

// ----- reading back (serial HDF5, rank 0) -------------------------------------------------

template <class T>
std::vector<T> read_numbers(hid_t file, const std::string& path, hid_t mtype) {
  H d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  EXPECT_GE(d.id, 0) << path;
  H space(H5Dget_space(d), H5Sclose);
  std::vector<T> v(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  if (!v.empty()) {
    EXPECT_GE(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0) << path;
  }
  return v;
}

std::string attr_string(hid_t obj, const char* name) {
  H a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  if (a.id < 0) return "<missing>";
  H mtype = vlen_type();
  char* p = nullptr;
  EXPECT_GE(H5Aread(a, mtype, &p), 0) << name;
  std::string s = p != nullptr ? p : "";
  H5free_memory(p);
  return s;
}

template <class T>
T attr_number(hid_t obj, const char* name, hid_t mtype) {
  H a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  T v{};
  EXPECT_GE(H5Aread(a, mtype, &v), 0) << name;
  return v;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::uint64_t fnv1a(const void* data, std::size_t n, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

// A canonical text dump of everything a reader can see: objects in creation order,
// attributes in creation order with their types and values, dataset types, shapes, chunking,
// filters, and a hash of the data. Two files with the same dump hold the same content.
struct Dumper {
  hid_t file;
  std::ostringstream out;

  std::string type_text(hid_t t) {
    if (H5Tget_class(t) == H5T_STRING)
      return fmt::format("string(var={},cset={})", H5Tis_variable_str(t), int(H5Tget_cset(t)));
    return fmt::format("class={},size={},order={},sign={}", int(H5Tget_class(t)), H5Tget_size(t),
                       int(H5Tget_order(t)),
                       H5Tget_class(t) == H5T_INTEGER ? int(H5Tget_sign(t)) : -1);
  }

  void attributes(hid_t obj) {
    H5O_info_t info;
    H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS);
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
      H a(H5Aopen_by_idx(obj, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT),
          H5Aclose);
      std::array<char, 256> name{};
      H5Aget_name(a, name.size(), name.data());
      H t(H5Aget_type(a), H5Tclose);
      out << "  @" << name.data() << " " << type_text(t) << " = ";
      if (H5Tget_class(t) == H5T_STRING) {
        out << '"' << attr_string(obj, name.data()) << '"';
      } else if (H5Tget_class(t) == H5T_INTEGER) {
        out << attr_number<std::int64_t>(obj, name.data(), H5T_NATIVE_INT64);
      } else {
        out << fmt::format("{}", attr_number<double>(obj, name.data(), H5T_NATIVE_DOUBLE));
      }
      out << '\n';
    }
  }

  void dataset(const std::string& path) {
    H d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
    H t(H5Dget_type(d), H5Tclose);
    H space(H5Dget_space(d), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims = 0, maxdims = 0;
    if (rank == 1) H5Sget_simple_extent_dims(space, &dims, &maxdims);
    H dcpl(H5Dget_create_plist(d), H5Pclose);
    const H5D_layout_t layout = H5Pget_layout(dcpl);
    hsize_t chunk = 0;
    if (layout == H5D_CHUNKED) H5Pget_chunk(dcpl, 1, &chunk);
    out << "D " << path << " " << type_text(t) << " rank=" << rank << " dims=" << dims
        << " max=" << maxdims << " layout=" << int(layout) << " chunk=" << chunk << " filters=";
    for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
      unsigned flags = 0, config = 0;
      std::size_t nelmts = 4;
      std::array<unsigned, 4> cd{};
      std::array<char, 64> fname{};
      const H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts,
                                             cd.data(), fname.size(), fname.data(), &config);
      out << id << "(" << (nelmts > 0 ? cd[0] : 0) << ")";
    }
    std::uint64_t h = 0;
    if (H5Tget_class(t) == H5T_STRING) {
      h = fnv1a("", 0);
      for (const auto& s : H5Tis_variable_str(t) > 0 ? read_strings(file, path) : read_fixed_strings(file, path)) {
        const std::uint64_t n = s.size();
        h = fnv1a(&n, sizeof n, h);
        h = fnv1a(s.data(), s.size(), h);
      }
    } else {
      const std::size_t n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
      std::vector<unsigned char> bytes(n * H5Tget_size(t));
      if (n > 0) {
        EXPECT_GE(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), 0);
      }
      h = fnv1a(bytes.data(), bytes.size());
    }
    out << fmt::format(" data={:016x}\n", h);
    attributes(d);
  }

  void group(const std::string& path) {
    H g(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose);
    out << "G " << path << '\n';
    attributes(g);
    H5G_info_t info;
    H5Gget_info(g, &info);
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      std::array<char, 256> name{};
      H5Lget_name_by_idx(g, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, name.data(), name.size(),
                         H5P_DEFAULT);
      const std::string child = (path == "/" ? "" : path) + "/" + name.data();
      H5O_info_t oinfo;
      H5Oget_info_by_name2(file, child.c_str(), &oinfo, H5O_INFO_BASIC, H5P_DEFAULT);
      if (oinfo.type == H5O_TYPE_GROUP)
        group(child);
      else
        dataset(child);
    }
  }
};

std::string dump(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (f.id < 0) return "cannot open " + path;
  Dumper d{f, {}};
  d.group("/");
  return d.out.str();
}

// Every value of the file against the global content (rank 0, after commit).
void check_content(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  ASSERT_GE(f.id, 0) << path;

  EXPECT_EQ(attr_string(f, "format"), "decouple-panel");
  EXPECT_EQ(attr_string(f, "scenario"), "mpi-check ü");
  EXPECT_EQ(attr_string(f, "seed"), "replaced");
  EXPECT_EQ(attr_number<double>(f, "wall_seconds", H5T_NATIVE_DOUBLE), 1.25);
  {
    H g(H5Gopen2(f, "/panel/a", H5P_DEFAULT), H5Gclose);
    EXPECT_EQ(attr_number<double>(g, "level", H5T_NATIVE_DOUBLE), 2.0);
  }

  EXPECT_EQ(read_strings(f, "/config"), std::vector<std::string>{kConfig});
  EXPECT_EQ(read_strings(f, "/meta/regions"), kRegions);
  EXPECT_TRUE(read_strings(f, "/meta/empty").empty());
  EXPECT_TRUE(read_fixed_strings(f, "/meta/nothing/id").empty());
  EXPECT_TRUE(read_numbers<double>(f, "/meta/nothing/v", H5T_NATIVE_DOUBLE).empty());

  std::vector<std::string> ids, names;
  std::vector<std::int32_t> regions;
  std::vector<double> capacity;
  std::vector<std::int64_t> entry;
  for (std::size_t i = 0; i < kFirms; ++i) {
    ids.push_back(firm_id(i));
    names.push_back("name " + firm_id(i));
    regions.push_back(firm_region(i));
    capacity.push_back(firm_capacity(i));
    entry.push_back(firm_entry(i));
  }
  EXPECT_EQ(read_fixed_strings(f, "/meta/firms/firm_id"), ids);
  EXPECT_EQ(read_fixed_strings(f, "/meta/firms/name"), names);
  EXPECT_EQ(read_numbers<std::int32_t>(f, "/meta/firms/region", H5T_NATIVE_INT32), regions);
  EXPECT_EQ(read_numbers<double>(f, "/meta/firms/capacity", H5T_NATIVE_DOUBLE), capacity);
  EXPECT_EQ(read_numbers<std::int64_t>(f, "/meta/firms/entry_period", H5T_NATIVE_INT64), entry);
  {
    H d(H5Dopen2(f, "/meta/firms/region", H5P_DEFAULT), H5Dclose);
    EXPECT_EQ(attr_string(d, "codes"), "/meta/regions");
    EXPECT_EQ(attr_string(d, "units"), "code");
    EXPECT_EQ(attr_string(d, "description"), "home region");
  }

  const std::size_t n = total_rows();
  const auto period = read_numbers<std::int32_t>(f, "/panel/a/period", H5T_NATIVE_INT32);
  const auto id = read_numbers<std::int64_t>(f, "/panel/a/id", H5T_NATIVE_INT64);
  const auto x = read_numbers<double>(f, "/panel/a/x", H5T_NATIVE_DOUBLE);
  ASSERT_EQ(period.size(), n);
  ASSERT_EQ(id.size(), n);
  ASSERT_EQ(x.size(), n);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool ok = period[i] == period_of(i) && id[i] == id_of(i) && same_bits(x[i], x_of(i));
    if (!ok && bad++ < 5) ADD_FAILURE() << "/panel/a row " << i << " differs";
  }
  EXPECT_EQ(bad, 0u);
  std::vector<double> y;
  for (std::size_t i = 0; i < 3 * kBCalls; ++i) y.push_back(y_of(i));
  EXPECT_EQ(read_numbers<double>(f, "/panel/b/y", H5T_NATIVE_DOUBLE), y);

  // Panel columns stay chunked and compressed when written in parallel.
  for (const auto& spec : a_columns()) {
    const std::string p = "/panel/a/" + spec.name;
    H d(H5Dopen2(f, p.c_str(), H5P_DEFAULT), H5Dclose);
    EXPECT_EQ(attr_string(d, "units"), spec.units) << p;
    EXPECT_EQ(attr_string(d, "description"), spec.description) << p;
    H dcpl(H5Dget_create_plist(d), H5Pclose);
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED) << p;
    hsize_t chunk = 0;
    H5Pget_chunk(dcpl, 1, &chunk);
    EXPECT_EQ(chunk, 16384u) << p;
    EXPECT_GT(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_DEFLATE, nullptr, nullptr, nullptr, 0,
                                   nullptr, nullptr),
              -1)
        << p;
    EXPECT_GT(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_SHUFFLE, nullptr, nullptr, nullptr, 0,
                                   nullptr, nullptr),
              -1)
        << p;
    H space(H5Dget_space(d), H5Sclose);
    hsize_t dims = 0, maxdims = 0;
    H5Sget_simple_extent_dims(space, &dims, &maxdims);
    EXPECT_EQ(maxdims, H5S_UNLIMITED) << p;
    // Compression really happened: the period column is highly repetitive.
    if (spec.name == "period") {
      EXPECT_LT(H5Dget_storage_size(d), n * 4 / 10) << p;
    }
  }
}

// ----- fixture: one folder shared by all ranks ------------------------------------------------

class PanelFileMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    rank_ = world_rank();
    size_ = world_size();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string dir;
    if (rank_ == 0) {
      dir = (fs::temp_directory_path() /
             fmt::format("decouple-h5mpi-{}-{}-{}", ::getpid(), size_, info->name()))
                .string();
      fs::remove_all(dir);
      fs::create_directories(dir);
    }
    int n = static_cast<int>(dir.size());
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    dir.resize(static_cast<std::size_t>(n));
    MPI_Bcast(dir.data(), n, MPI_CHAR, 0, MPI_COMM_WORLD);
    dir_ = dir;
  }
  void TearDown() override {
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  void barrier() const { MPI_Barrier(MPI_COMM_WORLD); }

  int rank_ = 0;
  int size_ = 1;
  fs::path dir_;
};

TEST(PanelFileShare, SharesCoverTheBlockInRankOrder) {
  for (int size = 1; size <= 4; ++size) {
    bool some_empty = false, all_full = false;
    for (std::size_t k = 0; k < kBlocks.size(); ++k)
      for (std::size_t block : {0u, 1u, 7u, 70003u}) {
        std::size_t next = 0;
        int empty = 0;
        for (int r = 0; r < size; ++r) {
          const auto [first, n] = share(block, r, size, k);
          EXPECT_EQ(first, next);
          next += n;
          empty += n == 0;
        }
        EXPECT_EQ(next, block);
        if (block == 70003) {
          some_empty = some_empty || empty > 0;
          all_full = all_full || empty == 0;
        }
      }
    if (size > 1) {
      EXPECT_TRUE(some_empty) << size;
      EXPECT_TRUE(all_full) << size;
    }
  }
  // The firm table: with 3 ranks rank 0 has none, with 2 both have some.
  EXPECT_EQ(share(kFirms, 0, 3, 4).second, 0u);
  EXPECT_GT(share(kFirms, 0, 2, 4).second, 0u);
  EXPECT_GT(share(kFirms, 1, 2, 4).second, 0u);
}

TEST_F(PanelFileMpi, RanksWriteOneFileEqualToAOneRankWrite) {
  const std::string path = file("run.h5");
  {
    PanelFile f(path, false, MPI_COMM_WORLD);
    write_content(f, rank_, size_);
    f.commit();
    // Every rank returns from commit() only once the file is in place.
    EXPECT_TRUE(fs::exists(path));
    EXPECT_FALSE(fs::exists(path + ".partial"));
  }
  // Rank 0 alone writes the same content on a 1-rank communicator: the reference.
  const std::string ref = file("ref.h5");
  if (rank_ == 0) {
    PanelFile f(ref, false, MPI_COMM_SELF);
    write_content(f, 0, 1);
    f.commit();
  }
  barrier();
  if (rank_ == 0) {
    check_content(path);
    const std::string a = dump(ref), b = dump(path);
    EXPECT_NE(a.find("D /panel/a/x"), std::string::npos) << a;
    EXPECT_EQ(a, b);
    // describe_file (serial) reads the parallel file.
    const std::string text = describe_file(path);
    EXPECT_NE(text.find(fmt::format("{} rows", total_rows())), std::string::npos) << text;
    EXPECT_NE(text.find("/meta/firms  (5 columns, 11 rows)"), std::string::npos) << text;
  }
}

// The block-by-block form of write_table against the whole-table form, for a table larger
// than a few blocks (65,536 rows each) shared unevenly, some ranks' shares crossing block
// boundaries: the two files must be identical object by object (values, string widths,
// attributes), whatever the number of ranks.
TEST_F(PanelFileMpi, TableWrittenInBlocksEqualsTheWholeTable) {
  constexpr std::size_t kBig = 140'001;
  const std::string whole = file("whole.h5"), blocks = file("blocks.h5");
  for (std::size_t k : {1, 4}) {  // two divisions of the rows (at 1 rank: all of them)
    const auto [first, n] = share(kBig, rank_, size_, k);
    {
      PanelFile f(whole, true, MPI_COMM_WORLD);
      f.write_table("/meta/firms", firms_rows(first, n));
      f.commit();
    }
    {
      PanelFile f(blocks, true, MPI_COMM_WORLD);
      const Table all = firms_rows(first, n);
      // This rank's own widths (the call takes the largest over ranks); 0 for numbers.
      std::vector<std::size_t> width(all.specs.size(), 0);
      for (std::size_t c : {0, 4})
        for (const auto& s : std::get<std::vector<std::string>>(all.columns[c])) width[c] = std::max(width[c], s.size());
      std::size_t calls = 0, covered = 0;
      f.write_table("/meta/firms", all.specs, n, width, [&](std::uint64_t at, std::uint64_t count, Table& block) {
        EXPECT_EQ(at, covered);  // blocks come in order, each right after the last
        EXPECT_EQ(block.rows(), 0u);
        const Table part = firms_rows(first + at, count);
        block.columns = part.columns;
        ++calls;
        covered += count;
      });
      EXPECT_EQ(covered, n);
      EXPECT_EQ(calls, (n + 65535) / 65536);
      f.commit();
    }
    barrier();
    if (rank_ == 0) {
      const std::string a = dump(whole), b = dump(blocks);
      EXPECT_NE(a.find("/meta/firms/name"), std::string::npos) << a.substr(0, 2000);
      EXPECT_EQ(a, b);
      H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
      H h(H5Fopen(blocks.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      ASSERT_GE(h.id, 0);
      const auto ids = read_fixed_strings(h, "/meta/firms/firm_id");
      ASSERT_EQ(ids.size(), kBig);
      EXPECT_EQ(ids[70'000], firm_id(70'000));
      EXPECT_EQ(ids[4], firm_id(4));
    }
    barrier();
  }
}

// A block that breaks the promise (a value wider than the width every rank agreed on, or a
// row count other than asked) throws on every rank without a hang, and the file cannot be
// committed.
TEST_F(PanelFileMpi, ABadBlockThrowsOnEveryRankAndStopsCommit) {
  for (const bool too_wide : {true, false}) {
    const std::string path = file("bad_block.h5");
    {
      PanelFile f(path, false, MPI_COMM_WORLD);
      const Table all = firms_rows(0, 3);
      const std::vector<std::size_t> width = {8, 0, 0, 0, 12};
      EXPECT_THROW(f.write_table("/meta/firms", all.specs, 3, width,
                                 [&](std::uint64_t, std::uint64_t count, Table& block) {
                                   block.columns = firms_rows(0, count).columns;
                                   if (rank_ != size_ - 1) return;
                                   if (too_wide) block.str(0).back() = std::string(9, 'x');
                                   else block.i32(1).pop_back();
                                 }),
                   InternalError);
      EXPECT_THROW(f.commit(), InternalError);
    }
    barrier();
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(path + ".partial"));
  }
}

TEST_F(PanelFileMpi, TwoArgumentConstructorUsesTheWorld) {
  const std::string path = file("world.h5");
  {
    PanelFile f(path, false);
    f.create_panel("/panel/p", {{"v", ColumnType::i64, "", "", ""}});
    Table t;
    t.add({"v", ColumnType::i64, "", "", ""});
    for (int i = 0; i <= rank_; ++i) t.i64(0).push_back(100 * rank_ + i);
    f.append("/panel/p", t);
    f.commit();
  }
  if (rank_ == 0) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H h(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(h.id, 0);
    std::vector<std::int64_t> want;
    for (int r = 0; r < size_; ++r)
      for (int i = 0; i <= r; ++i) want.push_back(100 * r + i);
    EXPECT_EQ(read_numbers<std::int64_t>(h, "/panel/p/v", H5T_NATIVE_INT64), want);
  }
}

TEST_F(PanelFileMpi, SegmentedAppendInterleavesRanksPerSegment) {
  // Three "periods"; rank r holds r+1 rows per period (ids 10r, 10r+1, …) but none in
  // period 1 on rank 1, and one period is empty everywhere on rank 0. The file must hold
  // (period, id) order: per period, every rank's rows in rank order.
  const std::string path = file("segments.h5");
  auto rows_of = [](int r, int period) {
    if ((r == 1 && period == 1) || (r == 0 && period == 2)) return 0;
    return r + 1;
  };
  {
    PanelFile f(path, false, MPI_COMM_WORLD);
    f.create_panel("/panel/s", {{"period", ColumnType::i32, "", "", ""}, {"id", ColumnType::i64, "", "", ""}});
    Table t;
    t.add({"period", ColumnType::i32, "", "", ""});
    t.add({"id", ColumnType::i64, "", "", ""});
    // One ordinary append first: the segments land after it.
    t.i32(0).push_back(-1);
    t.i64(1).push_back(rank_);
    f.append("/panel/s", t);
    t.clear_rows();
    std::vector<std::uint64_t> segments;
    for (int period = 0; period < 3; ++period) {
      segments.push_back(static_cast<std::uint64_t>(rows_of(rank_, period)));
      for (int i = 0; i < rows_of(rank_, period); ++i) {
        t.i32(0).push_back(period);
        t.i64(1).push_back(10 * rank_ + i);
      }
    }
    f.append("/panel/s", t, segments);
    // A wrong segment total is refused on every rank without writing.
    std::vector<std::uint64_t> wrong = segments;
    if (rank_ == size_ - 1) wrong[0] += 1;
    EXPECT_THROW(f.append("/panel/s", t, wrong), InternalError);
    f.commit();
  }
  if (rank_ == 0) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H h(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(h.id, 0);
    std::vector<std::int32_t> periods;
    std::vector<std::int64_t> ids;
    for (int r = 0; r < size_; ++r) {
      periods.push_back(-1);
      ids.push_back(r);
    }
    for (int period = 0; period < 3; ++period)
      for (int r = 0; r < size_; ++r)
        for (int i = 0; i < rows_of(r, period); ++i) {
          periods.push_back(period);
          ids.push_back(10 * r + i);
        }
    EXPECT_EQ(read_numbers<std::int32_t>(h, "/panel/s/period", H5T_NATIVE_INT32), periods);
    EXPECT_EQ(read_numbers<std::int64_t>(h, "/panel/s/id", H5T_NATIVE_INT64), ids);
  }
}

// A column declared not to compress is stored without filters and written by each rank on
// its own (the others collectively): in segmented appends spanning several chunks, with ranks
// holding different numbers of rows, both land in (segment, rank) order; at deflate 0 every
// column is unfiltered.
TEST_F(PanelFileMpi, UncompressedColumnsAreWrittenByEachRankAlone) {
  auto rows_of = [](int r, int segment) { return static_cast<std::int64_t>(20000 * (r + 1) + 1000 * segment); };
  for (const int level : {1, 0}) {
    SCOPED_TRACE(::testing::Message() << "deflate " << level);
    const std::string path = file(fmt::format("raw{}.h5", level));
    ColumnSpec raw{"x", ColumnType::f64, "", "", ""};
    raw.compress = false;
    {
      PanelFile f(path, false, MPI_COMM_WORLD);
      f.set_deflate(level);
      f.create_panel("/panel/u", {{"id", ColumnType::i64, "", "", ""}, raw});
      for (int append = 0; append < 2; ++append) {
        Table t;
        t.add({"id", ColumnType::i64, "", "", ""});
        t.add(raw);
        std::vector<std::uint64_t> segments;
        for (int k = 0; k < 2; ++k) {
          const std::int64_t n = rows_of(rank_, k);
          segments.push_back(static_cast<std::uint64_t>(n));
          for (std::int64_t i = 0; i < n; ++i) {
            const std::int64_t id = ((append * 2 + k) * 10 + rank_) * 100000 + i;
            t.i64(0).push_back(id);
            t.f64(1).push_back(0.1 * static_cast<double>(id) + 1e-7);
          }
        }
        f.append("/panel/u", t, segments);
      }
      f.commit();
    }
    if (rank_ != 0) continue;
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H h(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(h.id, 0);
    std::vector<std::int64_t> ids;
    for (int append = 0; append < 2; ++append)
      for (int k = 0; k < 2; ++k)
        for (int r = 0; r < size_; ++r)
          for (std::int64_t i = 0; i < rows_of(r, k); ++i) ids.push_back(((append * 2 + k) * 10 + r) * 100000 + i);
    ASSERT_GT(ids.size(), 3 * PanelFile::kChunkRows);
    EXPECT_EQ(read_numbers<std::int64_t>(h, "/panel/u/id", H5T_NATIVE_INT64), ids);
    const auto x = read_numbers<double>(h, "/panel/u/x", H5T_NATIVE_DOUBLE);
    ASSERT_EQ(x.size(), ids.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) bad += x[i] != 0.1 * static_cast<double>(ids[i]) + 1e-7;
    EXPECT_EQ(bad, 0u);
    auto filters = [&](const char* column) {
      H d(H5Dopen2(h.id, column, H5P_DEFAULT), H5Dclose);
      H dcpl(H5Dget_create_plist(d.id), H5Pclose);
      H5D_fill_time_t fill = H5D_FILL_TIME_ERROR;
      EXPECT_GE(H5Pget_fill_time(dcpl.id, &fill), 0);
      if (H5Pget_nfilters(dcpl.id) == 0) {
        EXPECT_EQ(fill, H5D_FILL_TIME_NEVER) << column;
      }
      return H5Pget_nfilters(dcpl.id);
    };
    EXPECT_EQ(filters("/panel/u/id"), level > 0 ? 2 : 0);  // shuffle + deflate
    EXPECT_EQ(filters("/panel/u/x"), 0);
  }
}

TEST_F(PanelFileMpi, ExistingFileOrMissingFolderThrowsInputErrorOnEveryRank) {
  const std::string path = file("taken.h5");
  if (rank_ == 0) std::ofstream(path) << "old";
  barrier();
  try {
    PanelFile f(path, false, MPI_COMM_WORLD);
    ADD_FAILURE() << "must throw";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos) << e.what();
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].key, "--out");
    EXPECT_EQ(e.problems()[0].file, path);
  }
  EXPECT_THROW(PanelFile(file("no/such/folder/x.h5"), false, MPI_COMM_WORLD), InputError);
  barrier();
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_FALSE(fs::exists(file("no")));
}

TEST_F(PanelFileMpi, OneRanksBadRowsThrowEverywhereAndWriteNothing) {
  const std::string path = file("bad.h5");
  {
    PanelFile f(path, false, MPI_COMM_WORLD);
    f.create_panel("/panel/a", a_columns());
    f.append("/panel/a", a_rows(static_cast<std::size_t>(rank_) * 2, 2));
    // The last rank passes ragged rows; every rank must throw, none may hang.
    Table rows = a_rows(0, 3);
    if (rank_ == size_ - 1) rows.f64(2).push_back(1.0);
    EXPECT_THROW(f.append("/panel/a", rows), InternalError);
    Table firms = firms_rows(0, 2);
    if (rank_ == size_ - 1) firms.str(0).back() = std::string("a\0b", 3);
    EXPECT_THROW(f.write_table("/meta/firms", firms), InternalError);
    // Nothing was written: the file still commits, holding only the good rows.
    f.append("/panel/a", a_rows(2 * static_cast<std::size_t>(size_) + rank_, 1));
    f.commit();
  }
  if (rank_ == 0) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H h(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(h.id, 0);
    std::vector<std::int32_t> want;
    for (std::size_t i = 0; i < 3 * static_cast<std::size_t>(size_); ++i)
      want.push_back(period_of(i));
    EXPECT_EQ(read_numbers<std::int32_t>(h, "/panel/a/period", H5T_NATIVE_INT32), want);
    EXPECT_LT(H5Lexists(h, "/meta/firms", H5P_DEFAULT), 1);
  }
}

TEST_F(PanelFileMpi, WithoutCommitThePartialIsRemoved) {
  const std::string path = file("abandoned.h5");
  {
    PanelFile f(path, false, MPI_COMM_WORLD);
    write_content(f, rank_, size_);
    barrier();
    EXPECT_TRUE(fs::exists(path + ".partial"));
  }
  barrier();
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(PanelFileMpi, AnEarlierFailedWriteStopsCommitOnEveryRank) {
  const std::string path = file("failed.h5");
  {
    PanelFile f(path, false, MPI_COMM_WORLD);
    f.write_strings("/meta/regions", kRegions);
    EXPECT_THROW(f.write_strings("/meta/regions", kRegions), InternalError);  // exists
    EXPECT_THROW(f.commit(), InternalError);
  }
  barrier();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
}

TEST_F(PanelFileMpi, AFileAppearingDuringTheRunIsKeptOnEveryRank) {
  const std::string path = file("race.h5");
  {
    PanelFile f(path, false, MPI_COMM_WORLD);
    f.write_text("/config", kConfig);
    barrier();
    if (rank_ == 0) std::ofstream(path) << "someone else's";
    barrier();
    EXPECT_THROW(f.commit(), InputError);
  }
  barrier();
  EXPECT_TRUE(fs::exists(path + ".partial")) << "the finished result is kept";
  if (rank_ == 0) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    EXPECT_EQ(s, "someone else's");
    // The kept partial is complete, strings included.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H h(H5Fopen((path + ".partial").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(h.id, 0);
    EXPECT_EQ(read_strings(h, "/config"), std::vector<std::string>{kConfig});
  }
}

}  // namespace
}  // namespace decouple
