// The one place that speaks HDF5 (C API, parallel build). A run's output file
// (DESIGN §6) is written to `path + ".partial"` and renamed to `path` only by commit();
// a PanelFile destroyed without commit() removes its partial file, so a failed run
// never leaves a half-written result and never touches an existing one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace decouple {

enum class ColumnType : std::uint8_t { i32, i64, f64, str };

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::f64;
  std::string units;        // "USD/t", "t/month", "1", "period", ... stored as attribute `units`
  std::string description;  // stored as attribute `description`
  std::string codes;        // if set: path of a string table ("/meta/regions") that decodes
                            // this integer column; stored as attribute `codes`
};

using ColumnData = std::variant<std::vector<std::int32_t>, std::vector<std::int64_t>,
                                std::vector<double>, std::vector<std::string>>;

// A table held as columns (structure of arrays). Every column has the same length.
struct Table {
  std::vector<ColumnSpec> specs;
  std::vector<ColumnData> columns;

  void add(ColumnSpec spec);                 // adds an empty column of spec.type
  std::size_t rows() const;                  // length of the first column (0 if none)
  void clear_rows();                         // keep specs, empty every column
  std::vector<std::int32_t>& i32(std::size_t c) { return std::get<std::vector<std::int32_t>>(columns[c]); }
  std::vector<std::int64_t>& i64(std::size_t c) { return std::get<std::vector<std::int64_t>>(columns[c]); }
  std::vector<double>& f64(std::size_t c) { return std::get<std::vector<double>>(columns[c]); }
  std::vector<std::string>& str(std::size_t c) { return std::get<std::vector<std::string>>(columns[c]); }
};

struct Attribute {
  std::string name;
  std::variant<std::int64_t, double, std::string> value;
};

class PanelFile {
 public:
  // Creates `path + ".partial"` (replacing a stale partial). Throws decouple::InputError
  // (exit 2) if `path` exists and !force, or if the folder is missing or not writable.
  PanelFile(std::string path, bool force);
  ~PanelFile();  // without commit(): closes and deletes the partial file
  PanelFile(const PanelFile&) = delete;
  PanelFile& operator=(const PanelFile&) = delete;

  // Scalar attributes on a group ("/" for the root); a later call with the same name replaces.
  void set_attributes(const std::string& group, const std::vector<Attribute>& attrs);
  // A scalar variable-length UTF-8 string dataset (used for /config).
  void write_text(const std::string& dataset, const std::string& text);
  // A 1-D variable-length UTF-8 string dataset (used for /meta/regions etc.).
  void write_strings(const std::string& dataset, const std::vector<std::string>& values);
  // A whole table at once: group with one 1-D dataset per column (used for /meta/firms).
  void write_table(const std::string& group, const Table& table);

  // Panels grow period by period: declare the columns once (extendible, chunked,
  // deflate level 4), then append rows. Numeric columns only.
  void create_panel(const std::string& group, const std::vector<ColumnSpec>& columns);
  void append(const std::string& group, const Table& rows);  // rows.specs must match create_panel

  // Flush, close, and atomically rename the partial file onto `path`.
  void commit();

  const std::string& path() const;
  std::string partial_path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `decouple info FILE`: a human-readable summary (root attributes, groups, datasets
// with lengths, units). Throws InputError if FILE is missing or not a decouple file.
std::string describe_file(const std::string& path);

// `decouple export FILE --csv DIR`: one CSV per panel (DIR/<panel>.csv), integer
// columns with a `codes` attribute decoded to their names, plus meta tables as
// DIR/meta_<name>.csv. Creates DIR if needed. Returns the files written.
std::vector<std::string> export_csv(const std::string& path, const std::string& dir);

}  // namespace decouple
