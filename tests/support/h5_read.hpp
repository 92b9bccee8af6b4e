// Reading back what PanelFile wrote, through the HDF5 C API: the tests check the stored types
// (variable-length vs fixed-length UTF-8 strings) as well as the values. Serial; test-only.
#pragma once

#include <gtest/gtest.h>

#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/openmpi/hdf5.h>  // the openmpi flavour's headers are not on the default path
#endif

#include <algorithm>
#include <string>
#include <vector>

namespace decouple::test {

// An HDF5 id closed by its own close function.
struct H {
  hid_t id;
  herr_t (*close)(hid_t);
  H(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  H(H&& o) noexcept : id(o.id), close(o.close) { o.id = -1; }
  H(const H&) = delete;
  H& operator=(const H&) = delete;
  ~H() {
    if (id >= 0) close(id);
  }
  operator hid_t() const { return id; }
};

// A variable-length UTF-8 string type in memory.
inline H vlen_type() {
  H t(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

// All values of a variable-length UTF-8 string dataset (scalar or 1-D).
inline std::vector<std::string> read_strings(hid_t file, const std::string& path) {
  H d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  EXPECT_GE(d.id, 0) << path;
  H type(H5Dget_type(d), H5Tclose);
  EXPECT_GT(H5Tis_variable_str(type), 0) << path;
  EXPECT_EQ(H5Tget_cset(type), H5T_CSET_UTF8) << path;
  H space(H5Dget_space(d), H5Sclose);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  std::vector<char*> ptrs(n, nullptr);
  H mtype = vlen_type();
  if (n > 0) {
    EXPECT_GE(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), 0) << path;
  }
  std::vector<std::string> out;
  for (char* p : ptrs) out.emplace_back(p != nullptr ? p : "");
  if (n > 0) H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, ptrs.data());
  return out;
}

// A table's string column: fixed-length UTF-8, NUL-padded (written in parallel).
inline std::vector<std::string> read_fixed_strings(hid_t file, const std::string& path) {
  H d(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
  EXPECT_GE(d.id, 0) << path;
  H type(H5Dget_type(d), H5Tclose);
  EXPECT_EQ(H5Tis_variable_str(type), 0) << path;
  EXPECT_EQ(H5Tget_cset(type), H5T_CSET_UTF8) << path;
  EXPECT_EQ(H5Tget_strpad(type), H5T_STR_NULLPAD) << path;
  H space(H5Dget_space(d), H5Sclose);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  const std::size_t width = H5Tget_size(type);
  std::vector<char> buf(n * width + 1, '\0');
  if (n > 0) {
    EXPECT_GE(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), 0) << path;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    const char* p = buf.data() + i * width;
    out.emplace_back(p, std::find(p, p + width, '\0') - p);
  }
  return out;
}

}  // namespace decouple::test
