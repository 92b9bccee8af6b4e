// Tests of the HDF5 output layer (engine/panel_file.*): files are written through PanelFile
// and read back through the HDF5 C API, describe_file, export_csv and (if present) h5py.
#include "engine/panel_file.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
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

// ----- small helpers -------------------------------------------------------------------

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// RAII for hid_t in the tests.
H open_h5(const std::string& path) {
  return H(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
}

H open_attr(hid_t obj, const char* name) {
  return H(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
}

std::string attr_string(hid_t obj, const char* name) {
  H a = open_attr(obj, name);
  if (a.id < 0) return "<missing>";
  H type(H5Aget_type(a), H5Tclose);
  EXPECT_EQ(H5Tget_class(type), H5T_STRING);
  EXPECT_GT(H5Tis_variable_str(type), 0);
  EXPECT_EQ(H5Tget_cset(type), H5T_CSET_UTF8);
  H mtype(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mtype, H5T_VARIABLE);
  H5Tset_cset(mtype, H5T_CSET_UTF8);
  char* p = nullptr;
  EXPECT_GE(H5Aread(a, mtype, &p), 0);
  std::string s = p != nullptr ? p : "";
  H5free_memory(p);
  return s;
}

std::int64_t attr_i64(hid_t obj, const char* name) {
  H a = open_attr(obj, name);
  H type(H5Aget_type(a), H5Tclose);
  EXPECT_EQ(H5Tget_class(type), H5T_INTEGER);
  EXPECT_EQ(H5Tget_size(type), 8u);
  EXPECT_GT(H5Tequal(type, H5T_NATIVE_INT64), 0);
  std::int64_t v = 0;
  EXPECT_GE(H5Aread(a, H5T_NATIVE_INT64, &v), 0);
  return v;
}

double attr_f64(hid_t obj, const char* name) {
  H a = open_attr(obj, name);
  H type(H5Aget_type(a), H5Tclose);
  EXPECT_EQ(H5Tget_class(type), H5T_FLOAT);
  EXPECT_GT(H5Tequal(type, H5T_NATIVE_DOUBLE), 0);
  double v = 0;
  EXPECT_GE(H5Aread(a, H5T_NATIVE_DOUBLE, &v), 0);
  return v;
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

H open_ds(hid_t file, const std::string& path) {
  return H(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
}

hsize_t length(hid_t file, const std::string& path) {
  H d = open_ds(file, path);
  H space(H5Dget_space(d), H5Sclose);
  EXPECT_EQ(H5Sget_simple_extent_ndims(space), 1) << path;
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  return n;
}

template <class T>
std::vector<T> read_numbers(hid_t file, const std::string& path, hid_t mtype) {
  std::vector<T> v(length(file, path));
  H d = open_ds(file, path);
  if (!v.empty()) {
    EXPECT_GE(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  }
  return v;
}

H5T_class_t stored_class(hid_t file, const std::string& path, std::size_t* size = nullptr) {
  H d = open_ds(file, path);
  H type(H5Dget_type(d), H5Tclose);
  if (size != nullptr) *size = H5Tget_size(type);
  return H5Tget_class(type);
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

std::vector<std::string> children_in_creation_order(hid_t file, const std::string& group) {
  H g(H5Gopen2(file, group.c_str(), H5P_DEFAULT), H5Gclose);
  std::vector<std::string> names;
  hsize_t idx = 0;
  EXPECT_GE(H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, collect_name, &names), 0);
  return names;
}

// HDF5 objects (files, groups, datasets, ...) still open anywhere in the process.
ssize_t open_hdf5_objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

// A minimal RFC 4180 reader.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

double parse_double(const std::string& s) {
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  EXPECT_EQ(r.ec, std::errc()) << s;
  EXPECT_EQ(r.ptr, s.data() + s.size()) << s;
  return v;
}

// ----- the sample file -------------------------------------------------------------------

const std::vector<std::string> kRegions = {"HOME", "ABROAD", "Côte d'Ivoire"};
const std::vector<std::string> kGoods = {"widget", "gadget"};
const std::string kConfig = "[run]\nscenario = \"two-firm-check\"  # é ü 中\nperiods = 300\n";
const std::vector<std::size_t> kBatches = {4, 70000, 3};  // crosses a chunk boundary
constexpr std::size_t kMarketRows = 4 + 70000 + 3;

double price_of(std::size_t i) {
  switch (i) {
    case 0: return 0.1;
    case 1: return 1.0 / 3.0;
    case 2: return 1e-300;
    case 3: return -2.5e17;
    case 4: return std::numeric_limits<double>::max();
    case 5: return std::numeric_limits<double>::denorm_min();
    case 6: return -0.0;
    default: return static_cast<double>(i) * 0.37 + 1e-7;
  }
}
std::int32_t period_of(std::size_t i) { return static_cast<std::int32_t>(1 + i / 6); }
std::int32_t region_of(std::size_t i) { return static_cast<std::int32_t>(i % 3); }
std::int32_t good_of(std::size_t i) { return static_cast<std::int32_t>(i % 2); }
std::int64_t firms_of(std::size_t i) { return static_cast<std::int64_t>(i) * 10'000'000'000LL; }

std::vector<ColumnSpec> market_columns() {
  return {
      {"period", ColumnType::i32, "period", "months since start", ""},
      {"good", ColumnType::i32, "", "good", "/meta/goods"},
      {"region", ColumnType::i32, "", "destination region", "/meta/regions"},
      {"price", ColumnType::f64, "USD/t", "market price", ""},
      {"firms", ColumnType::i64, "1", "number of firms", ""},
  };
}

Table market_rows(std::size_t first, std::size_t n) {
  Table t;
  for (auto& s : market_columns()) t.add(s);
  for (std::size_t i = first; i < first + n; ++i) {
    t.i32(0).push_back(period_of(i));
    t.i32(1).push_back(good_of(i));
    t.i32(2).push_back(region_of(i));
    t.f64(3).push_back(price_of(i));
    t.i64(4).push_back(firms_of(i));
  }
  return t;
}

Table firms_table() {
  Table t;
  t.add({"firm_id", ColumnType::str, "", "firm id", ""});
  t.add({"name", ColumnType::str, "", "display name", ""});
  t.add({"region", ColumnType::i32, "", "home region", "/meta/regions"});
  t.add({"capacity", ColumnType::f64, "t/month", "capacity", ""});
  t.add({"entry_period", ColumnType::i64, "period", "entry", ""});
  t.str(0) = {"home-1", "abroad-1", "cote-1"};
  t.str(1) = {"Acme, Inc.", "Say \"hi\"", "two\nlines"};
  t.i32(2) = {0, 1, 2};
  t.f64(3) = {1000.0, 0.1, 1.0 / 7.0};
  t.i64(4) = {0, 12, -1};
  return t;
}

// Writes everything the round-trip, describe, export and h5py tests look at.
void write_sample_contents(PanelFile& f) {
  f.set_attributes("/", {{"format", std::string("decouple-panel")},
                         {"scenario", std::string("two-firm-check")},
                         {"format_version", std::int64_t{1}},
                         {"seed", std::int64_t{-7}},
                         {"wall_seconds", 1.25}});
  f.write_text("/config", kConfig);
  f.write_strings("/meta/regions", kRegions);
  f.write_strings("/meta/goods", kGoods);
  f.write_table("/meta/firms", firms_table());
  f.create_panel("/panel/market", market_columns());
  f.create_panel("/panel/policy", {{"period", ColumnType::i32, "period", "", ""},
                                   {"value", ColumnType::f64, "", "", ""}});
  std::size_t first = 0;
  for (const auto n : kBatches) {
    f.append("/panel/market", market_rows(first, n));
    first += n;
  }
}

void write_sample(const std::string& path) {
  PanelFile f(path, false);
  write_sample_contents(f);
  f.commit();
}

// ----- fixture -----------------------------------------------------------------------------

class PanelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           fmt::format("decouple-h5-{}-{}-{}", ::getpid(), info->test_suite_name(), info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> partial_leftovers(const fs::path& d) const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(d))
      if (e.path().extension() == ".partial") out.push_back(e.path().string());
    return out;
  }
  fs::path dir_;
};

// ----- Table -------------------------------------------------------------------------------

TEST(Table, AddRowsAndClear) {
  Table t;
  EXPECT_EQ(t.rows(), 0u);
  t.add({"a", ColumnType::i32, "", "", ""});
  t.add({"b", ColumnType::str, "", "", ""});
  t.add({"c", ColumnType::i64, "", "", ""});
  t.add({"d", ColumnType::f64, "", "", ""});
  ASSERT_EQ(t.specs.size(), 4u);
  ASSERT_EQ(t.columns.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<std::vector<std::int32_t>>(t.columns[0]));
  EXPECT_TRUE(std::holds_alternative<std::vector<std::string>>(t.columns[1]));
  EXPECT_TRUE(std::holds_alternative<std::vector<std::int64_t>>(t.columns[2]));
  EXPECT_TRUE(std::holds_alternative<std::vector<double>>(t.columns[3]));
  t.i32(0) = {1, 2, 3};
  t.str(1) = {"x", "y", "z"};
  EXPECT_EQ(t.rows(), 3u);
  t.clear_rows();
  EXPECT_EQ(t.rows(), 0u);
  EXPECT_TRUE(t.str(1).empty());
  EXPECT_EQ(t.specs.size(), 4u);
}

// ----- writing and reading back ------------------------------------------------------------

TEST_F(PanelFileTest, RoundTripThroughTheCApi) {
  const std::string path = file("run.h5");
  {
    PanelFile f(path, false);
    EXPECT_EQ(f.path(), path);
    EXPECT_EQ(f.partial_path(), path + ".partial");
    write_sample_contents(f);
    EXPECT_TRUE(fs::exists(path + ".partial"));
    EXPECT_FALSE(fs::exists(path));
    f.commit();
    EXPECT_TRUE(fs::exists(path));
    EXPECT_FALSE(fs::exists(path + ".partial"));
  }
  EXPECT_TRUE(fs::exists(path)) << "the destructor after commit must leave the file";

  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H f = open_h5(path);
  ASSERT_GE(f.id, 0);

  // Root attributes: types and values.
  EXPECT_EQ(attr_string(f, "format"), "decouple-panel");
  EXPECT_EQ(attr_i64(f, "format_version"), 1);
  EXPECT_EQ(attr_i64(f, "seed"), -7);
  EXPECT_EQ(attr_f64(f, "wall_seconds"), 1.25);
  EXPECT_EQ(attr_string(f, "scenario"), "two-firm-check");

  // /config: a scalar UTF-8 string.
  {
    H d = open_ds(f, "/config");
    H space(H5Dget_space(d), H5Sclose);
    EXPECT_EQ(H5Sget_simple_extent_type(space), H5S_SCALAR);
    EXPECT_EQ(read_strings(f, "/config"), std::vector<std::string>{kConfig});
  }

  // /meta string lists.
  EXPECT_EQ(read_strings(f, "/meta/regions"), kRegions);
  EXPECT_EQ(read_strings(f, "/meta/goods"), kGoods);

  // /meta/firms: i32 / f64 / i64 / str columns, attributes, column order.
  {
    const Table t = firms_table();
    EXPECT_EQ(children_in_creation_order(f, "/meta/firms"),
              (std::vector<std::string>{"firm_id", "name", "region", "capacity", "entry_period"}));
    EXPECT_EQ(read_fixed_strings(f, "/meta/firms/firm_id"), std::get<3>(t.columns[0]));
    EXPECT_EQ(read_fixed_strings(f, "/meta/firms/name"), std::get<3>(t.columns[1]));
    std::size_t size = 0;
    EXPECT_EQ(stored_class(f, "/meta/firms/region", &size), H5T_INTEGER);
    EXPECT_EQ(size, 4u);
    EXPECT_EQ(read_numbers<std::int32_t>(f, "/meta/firms/region", H5T_NATIVE_INT32),
              std::get<0>(t.columns[2]));
    EXPECT_EQ(stored_class(f, "/meta/firms/capacity", &size), H5T_FLOAT);
    EXPECT_EQ(size, 8u);
    EXPECT_EQ(read_numbers<double>(f, "/meta/firms/capacity", H5T_NATIVE_DOUBLE),
              std::get<2>(t.columns[3]));
    EXPECT_EQ(stored_class(f, "/meta/firms/entry_period", &size), H5T_INTEGER);
    EXPECT_EQ(size, 8u);
    EXPECT_EQ(read_numbers<std::int64_t>(f, "/meta/firms/entry_period", H5T_NATIVE_INT64),
              std::get<1>(t.columns[4]));
    H region = open_ds(f, "/meta/firms/region");
    EXPECT_EQ(attr_string(region, "codes"), "/meta/regions");
    EXPECT_EQ(attr_string(region, "description"), "home region");
    H cap = open_ds(f, "/meta/firms/capacity");
    EXPECT_EQ(attr_string(cap, "units"), "t/month");
    EXPECT_FALSE(has_attr(cap, "codes"));
  }

  // /panel/market: values, equal lengths, attributes, layout.
  const auto names = children_in_creation_order(f, "/panel/market");
  ASSERT_EQ(names, (std::vector<std::string>{"period", "good", "region", "price", "firms"}));
  for (const auto& n : names) EXPECT_EQ(length(f, "/panel/market/" + n), kMarketRows) << n;
  const auto period = read_numbers<std::int32_t>(f, "/panel/market/period", H5T_NATIVE_INT32);
  const auto region = read_numbers<std::int32_t>(f, "/panel/market/region", H5T_NATIVE_INT32);
  const auto good = read_numbers<std::int32_t>(f, "/panel/market/good", H5T_NATIVE_INT32);
  const auto price = read_numbers<double>(f, "/panel/market/price", H5T_NATIVE_DOUBLE);
  const auto firms = read_numbers<std::int64_t>(f, "/panel/market/firms", H5T_NATIVE_INT64);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kMarketRows; ++i) {
    const bool ok = period[i] == period_of(i) && region[i] == region_of(i) &&
                    good[i] == good_of(i) && firms[i] == firms_of(i) &&
                    same_bits(price[i], price_of(i));
    if (!ok && bad++ < 5) ADD_FAILURE() << "row " << i << " differs";
  }
  EXPECT_EQ(bad, 0u);

  for (const auto& spec : market_columns()) {
    const std::string p = "/panel/market/" + spec.name;
    H d = open_ds(f, p);
    EXPECT_EQ(attr_string(d, "units"), spec.units) << p;
    EXPECT_EQ(attr_string(d, "description"), spec.description) << p;
    EXPECT_EQ(has_attr(d, "codes"), !spec.codes.empty()) << p;
    if (!spec.codes.empty()) {
      EXPECT_EQ(attr_string(d, "codes"), spec.codes);
    }

    H space(H5Dget_space(d), H5Sclose);
    hsize_t dims = 0, maxdims = 0;
    ASSERT_EQ(H5Sget_simple_extent_dims(space, &dims, &maxdims), 1);
    EXPECT_EQ(maxdims, H5S_UNLIMITED) << p;

    H dcpl(H5Dget_create_plist(d), H5Pclose);
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED) << p;
    hsize_t chunk = 0;
    EXPECT_EQ(H5Pget_chunk(dcpl, 1, &chunk), 1);
    EXPECT_EQ(chunk, 16384u);
    bool deflate = false, shuffle = false;
    for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
      unsigned flags = 0, config = 0;
      std::size_t nelmts = 4;
      std::array<unsigned, 4> cd{};
      std::array<char, 64> fname{};
      const H5Z_filter_t id =
          H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts, cd.data(),
                         fname.size(), fname.data(), &config);
      if (id == H5Z_FILTER_DEFLATE) {
        deflate = true;
        EXPECT_EQ(cd[0], 1u) << "deflate level (1: see PERFORMANCE.md)";
      }
      if (id == H5Z_FILTER_SHUFFLE) shuffle = true;
    }
    EXPECT_TRUE(deflate) << p;
    EXPECT_TRUE(shuffle) << p;
  }

  // A panel that was created but never appended to: empty, still extendible.
  EXPECT_EQ(length(f, "/panel/policy/period"), 0u);
  EXPECT_EQ(length(f, "/panel/policy/value"), 0u);
}

// At deflate 0 panel columns are unfiltered and, like write_table's datasets, have no fill
// values (every row is written right after the extent grows); the values are the same.
TEST_F(PanelFileTest, UncompressedPanelsAndTablesSkipFillValues) {
  const std::string path = file("raw.h5");
  {
    PanelFile f(path, false);
    f.set_deflate(0);
    f.create_panel("/panel/market", market_columns());
    std::size_t first = 0;
    for (const auto n : kBatches) {
      f.append("/panel/market", market_rows(first, n));
      first += n;
    }
    f.write_table("/meta/firms", firms_table());
    f.commit();
  }
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H f = open_h5(path);
  ASSERT_GE(f.id, 0);
  const auto price = read_numbers<double>(f, "/panel/market/price", H5T_NATIVE_DOUBLE);
  const auto firms = read_numbers<std::int64_t>(f, "/panel/market/firms", H5T_NATIVE_INT64);
  const auto region = read_numbers<std::int32_t>(f, "/panel/market/region", H5T_NATIVE_INT32);
  ASSERT_EQ(price.size(), kMarketRows);
  ASSERT_EQ(firms.size(), kMarketRows);
  ASSERT_EQ(region.size(), kMarketRows);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kMarketRows; ++i)
    if (!same_bits(price[i], price_of(i)) || firms[i] != firms_of(i) || region[i] != region_of(i)) ++bad;
  EXPECT_EQ(bad, 0u);
  auto fill_time = [&](const std::string& p) {
    H d = open_ds(f, p);
    H dcpl(H5Dget_create_plist(d), H5Pclose);
    H5D_fill_time_t fill = H5D_FILL_TIME_ERROR;
    EXPECT_GE(H5Pget_fill_time(dcpl, &fill), 0) << p;
    EXPECT_EQ(H5Pget_nfilters(dcpl), 0) << p;
    return fill;
  };
  for (const auto& spec : market_columns())
    EXPECT_EQ(fill_time("/panel/market/" + spec.name), H5D_FILL_TIME_NEVER) << spec.name;
  for (const char* c : {"firm_id", "region", "capacity"})
    EXPECT_EQ(fill_time(std::string("/meta/firms/") + c), H5D_FILL_TIME_NEVER) << c;
  EXPECT_EQ(read_fixed_strings(f, "/meta/firms/firm_id"), std::get<3>(firms_table().columns[0]));
}

// ----- the shuffle filter (HDF5's, replaced for writing 8-byte elements) -----------------

// Once a PanelFile exists, HDF5's shuffle filter is ours (not a function of libhdf5), and it
// writes what the shuffle is defined to write — byte j of element i at j·n + i, trailing
// bytes copied — for element counts around the 16-element blocks; reading (HDF5's own
// unshuffle) restores the input. Sizes other than 8 keep HDF5's own results.
TEST_F(PanelFileTest, ShuffleFilterIsOursAndWritesTheDefinedBytes) {
  { PanelFile f(file("s.h5"), false); }
  using Find = H5Z_class2_t* (*)(H5Z_filter_t);
  const auto find = reinterpret_cast<Find>(dlsym(RTLD_DEFAULT, "H5Z_find"));
  ASSERT_NE(find, nullptr) << "libhdf5 does not export H5Z_find: HDF5's own shuffle is used";
  const H5Z_class2_t* shuffle = find(H5Z_FILTER_SHUFFLE);
  ASSERT_NE(shuffle, nullptr);
  Dl_info where{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(shuffle->filter), &where), 0);
  EXPECT_EQ(std::string(where.dli_fname).find("libhdf5"), std::string::npos)
      << "the shuffle filter is still libhdf5's: " << where.dli_fname;
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<unsigned char>(x >> 32);
  };
  for (const unsigned size : {8u, 4u})
    for (const std::size_t n : {std::size_t{2}, std::size_t{15}, std::size_t{16}, std::size_t{17},
                                std::size_t{31}, std::size_t{33}, std::size_t{1000}, std::size_t{16384}})
      for (const std::size_t extra : {std::size_t{0}, std::size_t{3}, std::size_t{size - 1u}}) {
        const std::size_t nbytes = n * size + extra;
        std::vector<unsigned char> in(nbytes), want(nbytes);
        for (auto& b : in) b = next();
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t j = 0; j < size; ++j) want[j * n + i] = in[size * i + j];
        std::copy(in.end() - static_cast<std::ptrdiff_t>(extra), in.end(), want.end() - static_cast<std::ptrdiff_t>(extra));
        const unsigned cd[1] = {size};
        void* buf = H5allocate_memory(nbytes, false);
        std::memcpy(buf, in.data(), nbytes);
        std::size_t buf_size = nbytes;
        ASSERT_EQ(shuffle->filter(0, 1, cd, nbytes, &buf_size, &buf), nbytes);
        EXPECT_EQ(std::memcmp(buf, want.data(), nbytes), 0) << "size " << size << ", " << n << " elements + " << extra;
        ASSERT_EQ(shuffle->filter(H5Z_FLAG_REVERSE, 1, cd, nbytes, &buf_size, &buf), nbytes);
        EXPECT_EQ(std::memcmp(buf, in.data(), nbytes), 0) << "unshuffled, size " << size << ", " << n;
        H5free_memory(buf);
      }
}

// ----- compress2 (zlib's, replaced at level 1 for HDF5's deflate filter) -------------------

// The compress2 HDF5 calls is the one the process resolves by name: this binary's.
TEST(Compress2, TheProcessResolvesCompress2ToOurs) {
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "compress2"), reinterpret_cast<void*>(&compress2))
      << "libhdf5 would call zlib's compress2, not the faster one in engine/panel_file.cpp";
}

std::vector<unsigned char> inflate_all(const std::vector<unsigned char>& z, std::size_t n) {
  std::vector<unsigned char> out(n + 1);
  uLongf len = out.size();
  EXPECT_EQ(uncompress(out.data(), &len, z.data(), z.size()), Z_OK);
  out.resize(len);
  return out;
}

std::vector<unsigned char> compressed(const std::vector<unsigned char>& in, int level) {
  uLongf len = compressBound(in.size());
  std::vector<unsigned char> z(len);
  EXPECT_EQ(compress2(z.data(), &len, in.data(), in.size(), level), Z_OK);
  z.resize(len);
  return z;
}

// Level-1 streams round-trip through zlib's inflate for every kind of block: runs of one byte
// (each literal code length, run lengths around the 258-byte copy, runs across block
// boundaries), random bytes, counters and mixtures, and sizes around the 16 KiB block.
TEST(Compress2, Level1StreamsInflateToTheInput) {
  std::uint64_t x = 88172645463325252ULL;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<unsigned char>(x);
  };
  std::vector<std::vector<unsigned char>> inputs = {{}, {7}, {0, 0}};
  for (const unsigned char c : {0, 143, 144, 255})
    for (const std::size_t n : {1, 2, 3, 257, 258, 259, 260, 516, 16383, 16384, 16385, 100000})
      inputs.emplace_back(n, c);
  for (const std::size_t n : {1, 100, 16384, 16385, 70000}) {
    std::vector<unsigned char> random(n), counter(n);
    for (std::size_t i = 0; i < n; ++i) {
      random[i] = next();
      counter[i] = static_cast<unsigned char>(i);
    }
    inputs.push_back(random);
    inputs.push_back(counter);
  }
  // Blocks coded by our own Huffman blocks (bytes spread over a few values, no runs): a
  // geometric distribution, 40 values alike, and counts 1, 2, 3, 5, 8, … (with the end-of-block
  // code's 1 a Huffman tree 18 deep: the repair to 15 bits).
  {
    std::vector<unsigned char> geometric, forty, chain;
    for (std::size_t i = 0; i < 40000; ++i) {
      unsigned char g = 0;
      while (g < 12 && next() < 128) ++g;
      geometric.push_back(g);
      forty.push_back(static_cast<unsigned char>(next() % 40 + 60));
    }
    std::uint64_t f1 = 1, f2 = 2;
    for (unsigned char k = 0; k < 18; ++k, f2 += f1, f1 = f2 - f1) chain.insert(chain.end(), f1, k);
    chain.resize(16384, 200);
    for (std::size_t i = chain.size() - 1; i > 0; --i)  // shuffled: no runs, no steps
      std::swap(chain[i], chain[(std::size_t{next()} << 16 | std::size_t{next()} << 8 | next()) % (i + 1)]);
    inputs.push_back(geometric);
    inputs.push_back(forty);
    inputs.push_back(chain);
  }
  // A shuffled chunk of doubles: constant planes of different bytes, random planes, steps.
  std::vector<unsigned char> chunk;
  for (int plane = 0; plane < 8; ++plane)
    for (std::size_t i = 0; i < 65536; ++i)
      chunk.push_back(plane < 2 ? static_cast<unsigned char>(plane * 60)
                      : plane < 6 ? next()
                      : plane == 6 ? static_cast<unsigned char>(i / 700)
                                   : static_cast<unsigned char>(i % 3 == 0 ? next() : 0x3f));
  inputs.push_back(chunk);
  // Runs inside blocks (a region-major panel's planes: a few hundred equal bytes per region
  // and good, then another value): every run length near the 258-byte copy and its multiples
  // (a copy never leaves 1–2 bytes behind), runs across block boundaries, and random run
  // lengths over a few values.
  std::vector<unsigned char> runs, spread_runs;
  for (const std::size_t len : {1, 2, 3, 4, 5, 255, 256, 257, 258, 259, 260, 261, 262, 515, 516, 517, 518, 519, 520,
                                773, 774, 775, 776, 777, 1000, 16384, 16390})
    runs.insert(runs.end(), len, static_cast<unsigned char>(runs.size() % 7 == 0 ? 200 : len % 251));
  while (spread_runs.size() < 200000)
    spread_runs.insert(spread_runs.end(), std::size_t{next()} * 3 % 700 + 1, static_cast<unsigned char>(next() % 6 + 60));
  inputs.push_back(runs);
  inputs.push_back(spread_runs);
  for (const auto& in : inputs) {
    const auto z = compressed(in, 1);
    EXPECT_EQ(inflate_all(z, in.size()), in) << in.size() << " bytes";
    EXPECT_LE(z.size(), compressBound(in.size())) << in.size() << " bytes";
  }
  // Random bytes are stored, not expanded; a run of one byte is a few bits per 258 bytes.
  EXPECT_LE(compressed(inputs.back(), 1).size(), chunk.size());
  EXPECT_LT(compressed(std::vector<unsigned char>(100000, 0), 1).size(), 1500u);  // 20 bits per 258 bytes
  // Runs inside blocks are coded as runs: ≈ 350 bytes each on average, a few bytes per run.
  EXPECT_LT(compressed(spread_runs, 1).size(), spread_runs.size() / 40);
}

// Other levels, and a buffer too small for the level-1 stream, take zlib's own path (the
// result of compress2 as zlib defines it: Z_BUF_ERROR when nothing fits).
TEST(Compress2, OtherLevelsAndSmallBuffersBehaveAsZlibs) {
  std::vector<unsigned char> text;
  for (int i = 0; i < 5000; ++i)
    for (const char c : std::string("decouple panel file "))
      text.push_back(static_cast<unsigned char>(c + i % 3));
  for (const int level : {0, 6, 9}) EXPECT_EQ(inflate_all(compressed(text, level), text.size()), text) << level;
  std::vector<unsigned char> tiny(8);
  uLongf len = tiny.size();
  EXPECT_EQ(compress2(tiny.data(), &len, text.data(), text.size(), 1), Z_BUF_ERROR);
}

TEST_F(PanelFileTest, ZeroRowTablesAndAppendsAndReplacedAttributes) {
  const std::string path = file("empty.h5");
  {
    PanelFile f(path, false);
    Table empty;
    empty.add({"id", ColumnType::str, "", "", ""});
    empty.add({"x", ColumnType::f64, "", "", ""});
    f.write_table("/meta/nothing", empty);
    f.write_strings("/meta/blocs", {});
    f.create_panel("/panel/deep/trade", {{"period", ColumnType::i32, "period", "", ""},
                                         {"q", ColumnType::f64, "t", "", ""}});
    Table rows;
    rows.add({"period", ColumnType::i32, "period", "", ""});
    rows.add({"q", ColumnType::f64, "t", "", ""});
    f.append("/panel/deep/trade", rows);  // zero rows: no-op
    rows.i32(0) = {5, 6};
    rows.f64(1) = {1.5, 2.5};
    f.append("/panel/deep/trade", rows);
    rows.clear_rows();
    f.append("/panel/deep/trade", rows);
    f.set_attributes("/", {{"seed", std::int64_t{1}}, {"note", std::string("first")}});
    f.set_attributes("/", {{"seed", std::string("replaced")}});
    f.set_attributes("/panel/deep", {{"level", 2.0}});
    f.commit();
  }
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H f = open_h5(path);
  ASSERT_GE(f.id, 0);
  EXPECT_EQ(length(f, "/meta/nothing/id"), 0u);
  EXPECT_EQ(length(f, "/meta/nothing/x"), 0u);
  EXPECT_EQ(length(f, "/meta/blocs"), 0u);
  EXPECT_EQ(read_numbers<std::int32_t>(f, "/panel/deep/trade/period", H5T_NATIVE_INT32),
            (std::vector<std::int32_t>{5, 6}));
  EXPECT_EQ(read_numbers<double>(f, "/panel/deep/trade/q", H5T_NATIVE_DOUBLE),
            (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(attr_string(f, "seed"), "replaced");
  EXPECT_EQ(attr_string(f, "note"), "first");
  H deep(H5Gopen2(f, "/panel/deep", H5P_DEFAULT), H5Gclose);
  EXPECT_EQ(attr_f64(deep, "level"), 2.0);
}

TEST_F(PanelFileTest, MismatchedAppendsThrowInternalErrorAndLeaveTheFileConsistent) {
  const std::string path = file("mismatch.h5");
  PanelFile f(path, false);
  f.create_panel("/panel/market", market_columns());
  f.append("/panel/market", market_rows(0, 10));

  Table wrong_name = market_rows(0, 2);
  wrong_name.specs[3].name = "cost";
  EXPECT_THROW(f.append("/panel/market", wrong_name), InternalError);

  Table wrong_type = market_rows(0, 2);
  wrong_type.specs[4].type = ColumnType::f64;
  wrong_type.columns[4] = std::vector<double>{1, 2};
  EXPECT_THROW(f.append("/panel/market", wrong_type), InternalError);

  Table ragged = market_rows(0, 2);
  ragged.f64(3).push_back(1.0);
  EXPECT_THROW(f.append("/panel/market", ragged), InternalError);

  Table extra = market_rows(0, 2);
  extra.add({"extra", ColumnType::f64, "", "", ""});
  extra.f64(5) = {1, 2};
  EXPECT_THROW(f.append("/panel/market", extra), InternalError);

  Table missing = market_rows(0, 2);
  missing.specs.pop_back();
  missing.columns.pop_back();
  EXPECT_THROW(f.append("/panel/market", missing), InternalError);

  EXPECT_THROW(f.append("/panel/nope", market_rows(0, 2)), InternalError);
  EXPECT_THROW(f.create_panel("/panel/text", {{"name", ColumnType::str, "", "", ""}}),
               InternalError);
  EXPECT_THROW(f.create_panel("/panel/market", market_columns()), InternalError);
  EXPECT_THROW(f.create_panel("/panel/dup", {{"a", ColumnType::f64, "", "", ""},
                                             {"a", ColumnType::f64, "", "", ""}}),
               InternalError);

  // None of these wrote anything, so the file still commits with equal column lengths.
  f.append("/panel/market", market_rows(10, 5));
  f.commit();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H h = open_h5(path);
  for (const auto& s : market_columns()) EXPECT_EQ(length(h, "/panel/market/" + s.name), 15u);
}

TEST_F(PanelFileTest, Hdf5FailuresNameTheCallAndPreventCommit) {
  const std::string path = file("fail.h5");
  {
    PanelFile f(path, false);
    f.write_strings("/meta/regions", kRegions);
    try {
      f.write_strings("/meta/regions", kRegions);
      ADD_FAILURE() << "writing a dataset twice must throw";
    } catch (const InternalError& e) {
      EXPECT_NE(std::string(e.what()).find("H5Dcreate2"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("/meta/regions"), std::string::npos) << e.what();
    }
    EXPECT_THROW(f.commit(), InternalError);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(open_hdf5_objects(), 0) << "an abandoned PanelFile leaked HDF5 handles";
}

TEST_F(PanelFileTest, CommittedFileIsInert) {
  const std::string path = file("inert.h5");
  {
    PanelFile f(path, false);
    f.write_text("/config", "x");
    f.commit();
    EXPECT_THROW(f.write_text("/other", "y"), InternalError);
    EXPECT_THROW(f.commit(), InternalError);
  }
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
}

// ----- the partial file and replacing ------------------------------------------------------

TEST_F(PanelFileTest, DestructorWithoutCommitRemovesPartialAndKeepsExistingFile) {
  const std::string path = file("keep.h5");
  const std::string old = std::string("precious result\n\0\x01\xff", 20);
  spit(path, old);
  {
    PanelFile f(path, /*force=*/true);
    write_sample_contents(f);
    EXPECT_TRUE(fs::exists(path + ".partial"));
    EXPECT_EQ(slurp(path), old);
  }
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(slurp(path), old);

  const std::string fresh = file("fresh.h5");
  { PanelFile f(fresh, false); }
  EXPECT_FALSE(fs::exists(fresh));
  EXPECT_FALSE(fs::exists(fresh + ".partial"));
}

TEST_F(PanelFileTest, ExistingFileWithoutForceThrowsAndCreatesNothing) {
  const std::string path = file("taken.h5");
  spit(path, "old");
  try {
    PanelFile f(path, false);
    ADD_FAILURE() << "must throw";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("--force"), std::string::npos) << msg;
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].key, "--out");
  }
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(PanelFileTest, ForceReplacesOnlyAtCommit) {
  const std::string path = file("replace.h5");
  spit(path, "old");
  PanelFile f(path, true);
  write_sample_contents(f);
  EXPECT_EQ(slurp(path), "old");
  f.commit();
  EXPECT_FALSE(fs::exists(path + ".partial"));
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  EXPECT_GT(H5Fis_hdf5(path.c_str()), 0);
  EXPECT_NE(describe_file(path).find("/panel/market"), std::string::npos);
}

TEST_F(PanelFileTest, StalePartialIsReplaced) {
  const std::string path = file("stale.h5");
  spit(path + ".partial", "left over by a crashed run");
  write_sample(path);
  EXPECT_FALSE(fs::exists(path + ".partial"));
  EXPECT_NE(describe_file(path).find("/meta/firms"), std::string::npos);
}

TEST_F(PanelFileTest, FileAppearingDuringTheRunIsNotReplacedWithoutForce) {
  const std::string path = file("race.h5");
  PanelFile f(path, false);
  f.write_text("/config", "x");
  spit(path, "someone else's");
  EXPECT_THROW(f.commit(), InputError);
  EXPECT_EQ(slurp(path), "someone else's");
  EXPECT_TRUE(fs::exists(path + ".partial")) << "the finished result is kept";
}

TEST_F(PanelFileTest, MissingOrBadFolderIsInputError) {
  const std::string path = file("no/such/folder/out.h5");
  try {
    PanelFile f(path, false);
    ADD_FAILURE() << "must throw";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(file("no")));

  spit(file("plain"), "a file, not a folder");
  EXPECT_THROW(PanelFile(file("plain/out.h5"), true), InputError);
  fs::create_directory(file("adir"));
  EXPECT_THROW(PanelFile(file("adir"), true), InputError);
}

// ----- describe_file -----------------------------------------------------------------------

TEST_F(PanelFileTest, DescribeFileListsAttributesGroupsAndRows) {
  const std::string path = file("info.h5");
  write_sample(path);
  const std::string text = describe_file(path);
  for (const std::string want :
       {"format", "decouple-panel", "seed", "-7", "wall_seconds", "1.25", "/meta/firms",
        "/meta", "regions", "/panel/market", "/panel/policy", "70007 rows", "3 rows",
        "periods 1..11668", "USD/t", "float64", "int32", "int64", "string", "codes /meta/regions",
        "config"}) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing '" << want << "' in\n" << text;
  }
  // Groups are sorted: /meta before /panel, /panel/market before /panel/policy.
  EXPECT_LT(text.find("/meta/firms"), text.find("/panel/market"));
  EXPECT_LT(text.find("/panel/market"), text.find("/panel/policy"));
  // Root attributes come first, in the order they were set.
  EXPECT_LT(text.find("format"), text.find("seed"));
  EXPECT_LT(text.find("scenario"), text.find("format_version"));
  EXPECT_LT(text.find("wall_seconds"), text.find("/meta"));
  EXPECT_EQ(open_hdf5_objects(), 0) << "describe_file leaked HDF5 handles";
}

TEST_F(PanelFileTest, DescribeFileRejectsMissingTextAndForeignFiles) {
  const auto expect_input_error = [](const std::string& p, const std::string& what) {
    try {
      (void)describe_file(p);
      ADD_FAILURE() << p << ": must throw";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  expect_input_error(file("missing.h5"), "no such file");
  spit(file("notes.txt"), "just text\n");
  expect_input_error(file("notes.txt"), "not an HDF5 file");

  // A valid HDF5 file that is not ours.
  const std::string foreign = file("foreign.h5");
  {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H f(H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(f.id, 0);
  }
  expect_input_error(foreign, "not a decouple panel file");
  EXPECT_THROW((void)export_csv(foreign, file("csv")), InputError);
  EXPECT_EQ(open_hdf5_objects(), 0);
}

// ----- export_csv --------------------------------------------------------------------------

TEST_F(PanelFileTest, ExportCsvDecodesQuotesAndRoundTripsDoubles) {
  const std::string path = file("export.h5");
  write_sample(path);
  const fs::path out = dir_ / "csv" / "nested";
  const auto files = export_csv(path, out.string());

  std::set<std::string> names;
  for (const auto& p : files) {
    EXPECT_TRUE(fs::exists(p)) << p;
    names.insert(fs::path(p).filename().string());
  }
  EXPECT_EQ(names, (std::set<std::string>{"market.csv", "policy.csv", "meta_regions.csv",
                                          "meta_goods.csv", "meta_firms.csv"}));
  EXPECT_EQ(files.size(), names.size());
  EXPECT_TRUE(partial_leftovers(out).empty());

  // market.csv: header in column order, codes decoded, doubles exact.
  const auto market = parse_csv(slurp(out / "market.csv"));
  ASSERT_EQ(market.size(), kMarketRows + 1);
  EXPECT_EQ(market[0], (std::vector<std::string>{"period", "good", "region", "price", "firms"}));
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kMarketRows; ++i) {
    const auto& r = market[i + 1];
    ASSERT_EQ(r.size(), 5u) << "row " << i;
    const double p = parse_double(r[3]);
    const bool ok = r[0] == std::to_string(period_of(i)) && r[1] == kGoods[good_of(i)] &&
                    r[2] == kRegions[region_of(i)] &&
                    same_bits(p, price_of(i)) &&
                    r[4] == std::to_string(firms_of(i));
    if (!ok && bad++ < 5) ADD_FAILURE() << "row " << i << ": " << fmt::format("{}", r);
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(market[1][3], "0.1");  // shortest round-trip form, not 0.10000000000000001

  // meta_firms.csv: RFC 4180 quoting survives commas, quotes and newlines.
  const std::string firms_text = slurp(out / "meta_firms.csv");
  EXPECT_NE(firms_text.find("\"Acme, Inc.\""), std::string::npos) << firms_text;
  EXPECT_NE(firms_text.find("\"Say \"\"hi\"\"\""), std::string::npos) << firms_text;
  EXPECT_NE(firms_text.find("\"two\nlines\""), std::string::npos) << firms_text;
  const auto firms = parse_csv(firms_text);
  ASSERT_EQ(firms.size(), 4u);
  EXPECT_EQ(firms[0], (std::vector<std::string>{"firm_id", "name", "region", "capacity",
                                                "entry_period"}));
  EXPECT_EQ(firms[1], (std::vector<std::string>{"home-1", "Acme, Inc.", "HOME", "1000", "0"}));
  EXPECT_EQ(firms[2], (std::vector<std::string>{"abroad-1", "Say \"hi\"", "ABROAD", "0.1", "12"}));
  EXPECT_EQ(firms[3][1], "two\nlines");
  EXPECT_EQ(firms[3][2], "Côte d'Ivoire");
  EXPECT_EQ(parse_double(firms[3][3]), 1.0 / 7.0);

  // Plain string lists: one column headed `id`.
  EXPECT_EQ(slurp(out / "meta_regions.csv"), "id\nHOME\nABROAD\nCôte d'Ivoire\n");
  EXPECT_EQ(slurp(out / "meta_goods.csv"), "id\nwidget\ngadget\n");
  // An empty panel: just the header.
  EXPECT_EQ(slurp(out / "policy.csv"), "period,value\n");

  // Exporting again replaces the files in place.
  EXPECT_EQ(export_csv(path, out.string()).size(), files.size());
  EXPECT_TRUE(partial_leftovers(out).empty());
  EXPECT_EQ(open_hdf5_objects(), 0) << "export_csv leaked HDF5 handles";
}

TEST_F(PanelFileTest, ExportCsvWritesMinusOneCodeAsAnEmptyField) {
  // The policy panel uses -1 for "no good / no partner" (a truce, an output-weight change).
  const std::string path = file("nonecode.h5");
  {
    PanelFile f(path, false);
    f.set_attributes("/", {{"format", std::string("decouple-panel")}});
    f.write_strings("/meta/regions", kRegions);
    f.create_panel("/panel/policy", {{"partner", ColumnType::i32, "", "", "/meta/regions"}});
    Table t;
    t.add({"partner", ColumnType::i32, "", "", "/meta/regions"});
    t.i32(0) = {-1, 0};
    f.append("/panel/policy", t);
    f.commit();
  }
  const fs::path out = dir_ / "csv";
  (void)export_csv(path, out.string());
  std::ifstream in(out / "policy.csv");
  std::string header, first, second;
  std::getline(in, header);
  std::getline(in, first);
  std::getline(in, second);
  EXPECT_EQ(header, "partner");
  EXPECT_EQ(first, "");
  EXPECT_EQ(second, kRegions[0]);
}

TEST_F(PanelFileTest, ExportCsvRejectsCodesOutOfRange) {
  const std::string path = file("badcodes.h5");
  {
    PanelFile f(path, false);
    f.set_attributes("/", {{"format", std::string("decouple-panel")}});
    f.write_strings("/meta/regions", kRegions);
    f.create_panel("/panel/market", {{"region", ColumnType::i32, "", "", "/meta/regions"}});
    Table t;
    t.add({"region", ColumnType::i32, "", "", "/meta/regions"});
    t.i32(0) = {0, 2, 3};
    f.append("/panel/market", t);
    f.commit();
  }
  const fs::path out = dir_ / "csv";
  try {
    (void)export_csv(path, out.string());
    ADD_FAILURE() << "must throw";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("code 3"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(partial_leftovers(out).empty());
  EXPECT_FALSE(fs::exists(out / "market.csv"));
  EXPECT_EQ(open_hdf5_objects(), 0) << "a failed export leaked HDF5 handles";
}

// ----- h5py / pandas -----------------------------------------------------------------------

TEST_F(PanelFileTest, PandasLoadsAPanelInOneLine) {
  if (std::system("/usr/bin/python3 -c 'import h5py, pandas' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 lacks h5py or pandas";
  const std::string path = file("pandas.h5");
  write_sample(path);
  const std::string script =
      "import sys, h5py, pandas as pd\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "g = f['panel/market']\n"
      "df = pd.DataFrame({k: g[k][:] for k in g})\n"
      "print(df.shape[0], df.shape[1], ','.join(df.columns), repr(float(df['price'].iloc[1])),\n"
      "      f.attrs['format'], f['meta/regions'].asstr()[2], int(df['firms'].iloc[-1]))\n";
  const std::string cmd = fmt::format("/usr/bin/python3 -c \"{}\" '{}' 2>&1", script, path);
  std::FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  std::array<char, 4096> buf{};
  while (const std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) output.append(buf.data(), n);
  EXPECT_EQ(::pclose(p), 0) << output;
  const std::string want =
      fmt::format("{} 5 period,good,region,price,firms 0.3333333333333333 decouple-panel "
                  "Côte d'Ivoire {}\n",
                  kMarketRows, firms_of(kMarketRows - 1));
  EXPECT_EQ(output, want);
}

}  // namespace
}  // namespace decouple
