// The one place that speaks HDF5 (C API, parallel build). A run's output file
// (DESIGN §6) is written to `path + ".partial"` and renamed to `path` only by commit();
// a PanelFile destroyed without commit() removes its partial file, so a failed run
// never leaves a half-written result and never touches an existing one.
//
// The file is written in parallel (MPI-IO, collective) by every rank of a communicator; one
// rank is the same code path on a 1-rank communicator. Every PanelFile method is collective:
// all ranks call it in the same order with the same arguments, except the rows given to
// append() and write_table(), where each rank passes its own rows and the file holds their
// concatenation in rank order. MPI must be initialised by the caller.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
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
  // false: a panel column stored without the shuffle and deflate filters, for values that do
  // not compress (a large world's continuous per-firm state); each rank then writes its rows
  // independently, outside the collective filtered write (as every column at deflate 0).
  bool compress = true;
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
  // Rows per chunk of a panel column: 128 KiB of f64 (64 KiB of i32) uncompressed. Parallel
  // HDF5 has no chunk cache for filtered writes: each append shuffles and compresses whole
  // chunks, and a chunk this size stays in the CPU's cache through both passes. A million-firm
  // append took 0.125 s with 16,384-row chunks, 0.15 s with 65,536 and 0.32 s with 262,144
  // (2 ranks); the file is 0.7% larger and reads as fast. A 10^8-row panel has ≈ 6,100 chunks
  // per column.
  static constexpr std::uint64_t kChunkRows = 16384;

  // Creates `path + ".partial"` (replacing a stale partial). Throws decouple::InputError
  // (exit 2) on every rank if `path` exists and !force, or if the folder is missing or not
  // writable (checked on rank 0). `comm` is duplicated; the 2-argument form uses MPI_COMM_WORLD.
  PanelFile(std::string path, bool force, MPI_Comm comm);
  PanelFile(std::string path, bool force);
  ~PanelFile();  // without commit(): closes and (rank 0) deletes the partial file
  PanelFile(const PanelFile&) = delete;
  PanelFile& operator=(const PanelFile&) = delete;

  // Scalar attributes on a group ("/" for the root); a later call with the same name replaces.
  void set_attributes(const std::string& group, const std::vector<Attribute>& attrs);
  // A scalar variable-length UTF-8 string dataset (used for /config). Rank 0's text is stored.
  void write_text(const std::string& dataset, const std::string& text);
  // A 1-D variable-length UTF-8 string dataset (used for /meta/regions etc.). Rank 0's values
  // are stored. (String data is written by rank 0 alone in commit(): HDF5 1.10 cannot write
  // variable-length data through MPI-IO. The datasets are created here, in call order.)
  void write_strings(const std::string& dataset, const std::vector<std::string>& values);
  // A whole table at once: group with one 1-D dataset per column (the small /meta tables,
  // an ensemble's /replicates).
  // Each rank passes its own rows (any number, 0 included); the file holds them in rank order.
  void write_table(const std::string& group, const Table& table);
  // The same table made and written a block of rows at a time, for tables too large to hold
  // (a million firms' /meta/firms held as strings was ≈ 150 MB more memory at the run's end,
  // and its page faults most of the time it took). This rank has `rows` rows; fill(first,
  // count, block) appends rows [first, first + count) of them to `block` (the specs' columns,
  // emptied before each call). String columns are as wide as the largest `string_width[c]`
  // any rank passes (other columns' entries are ignored); a longer value is an InternalError.
  // The datasets equal write_table's for the same rows.
  using TableFill = std::function<void(std::uint64_t first, std::uint64_t count, Table& block)>;
  void write_table(const std::string& group, const std::vector<ColumnSpec>& specs, std::uint64_t rows,
                   std::span<const std::size_t> string_width, const TableFill& fill);

  // Deflate level (0–9) of panels created after this call; 0 writes them unfiltered.
  // Default 1 (with the byte shuffle).
  void set_deflate(int level);
  // Panels grow period by period: declare the columns once (extendible, chunked,
  // shuffle + deflate), then append rows. Numeric columns only.
  void create_panel(const std::string& group, const std::vector<ColumnSpec>& columns);
  // rows.specs must match create_panel. Each rank passes its own rows (0 included); they land
  // after the panel's existing rows, rank 0's first.
  void append(const std::string& group, const Table& rows);
  // The same in segments (e.g. one per period): this rank's rows are segments[0] rows of
  // segment 0, then segments[1] rows of segment 1, …; every rank passes the same number of
  // segments. The file holds segment 0 of every rank in rank order, then segment 1, …: with
  // entities in contiguous id ranges by rank, rows land in (period, entity id) order.
  void append(const std::string& group, const Table& rows, std::span<const std::uint64_t> segments);

  // Flush, close, write the string data (rank 0), and atomically rename the partial file onto
  // `path` (rank 0); every rank returns once the rename is done, or throws the same error type.
  void commit();

  const std::string& path() const;
  std::string partial_path() const;

  // ---- what checkpoints need (engine/checkpoint.cpp)
  // The file's own duplicate of the communicator it was opened with.
  MPI_Comm communicator() const;
  // Panels created so far, in creation order; their columns and the rows written so far.
  std::vector<std::string> panels() const;
  const std::vector<ColumnSpec>& panel_columns(const std::string& group) const;
  std::uint64_t panel_rows(const std::string& group) const;
  // Collective: rows [offset, offset + count) of a panel as appended so far; each rank passes
  // its own range (0 rows included).
  Table read_panel(const std::string& group, std::uint64_t offset, std::uint64_t count);
  // Collective: a plain 1-D dataset (no attributes); each rank passes its own values (the same
  // alternative on every rank), and the file holds their concatenation in rank order.
  void write_array(const std::string& dataset, const ColumnData& values);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The readers below are serial (one process, no MPI calls); call them on rank 0 only.

// `decouple info FILE`: a human-readable summary (root attributes, groups, datasets
// with lengths, units). Throws InputError if FILE is missing or not a decouple file.
std::string describe_file(const std::string& path);

// `decouple export FILE --csv DIR`: one CSV per panel (DIR/<panel>.csv), integer
// columns with a `codes` attribute decoded to their names, plus meta tables as
// DIR/meta_<name>.csv; a merged ensemble adds DIR/replicates.csv and
// DIR/summary_<panel>.csv. Creates DIR if needed. Returns the files written.
std::vector<std::string> export_csv(const std::string& path, const std::string& dir);

// What a writer of `path` (through `path + ".partial"`) checks on the file system before it
// starts: the path is set, not present unless `force` (and then not a folder), its folder exists
// and is writable, and the partial name is not a folder. Throws InputError naming `path` and
// `option`. PanelFile's constructor runs it for --out (rank 0); `run` for --period-timings.
void check_output_path(const std::string& path, bool force, const std::string& option);

// A text file written through `path.partial` and renamed to `path` by finish(); destroyed
// unfinished, it removes the partial file. Errors are InputError naming the file and
// `option` (the command-line option that chose it). For export_csv and --period-timings.
class CsvWriter {
 public:
  CsvWriter(const std::string& path, const std::string& option);
  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;
  ~CsvWriter();
  // Appends buf, then clears it.
  void write(std::string& buf);
  // Closes and renames into place; the final path.
  const std::string& finish();

 private:
  std::string final_, partial_, option_;
  std::ofstream out_;
  bool done_ = false;
};

// Reading a file as columns, for `decouple merge` and `run --resume` (serial, no MPI calls:
// usable before MPI_Init and by every rank at once). Keeps the file open; integer columns keep
// their stored width (i32/i64).
class PanelReader {
 public:
  using Value = std::variant<std::int64_t, double, std::string>;

  // InputError if `path` is missing, not HDF5, or not a decouple file.
  explicit PanelReader(const std::string& path);
  // Any HDF5 file (a checkpoint, say): InputError(path, key, …) if it is missing, a folder or
  // not HDF5.
  static PanelReader any_hdf5(const std::string& path, const std::string& key);
  ~PanelReader();
  PanelReader(PanelReader&&) noexcept;
  PanelReader& operator=(PanelReader&&) noexcept;
  PanelReader(const PanelReader&) = delete;
  PanelReader& operator=(const PanelReader&) = delete;

  const std::string& path() const;
  bool exists(const std::string& object) const;
  // Scalar attributes (integers as int64, reals as double, strings) in creation order; others
  // are left out.
  std::vector<Attribute> attributes(const std::string& object = "/") const;
  std::optional<Value> attribute(const std::string& object, const std::string& name) const;
  std::vector<std::string> groups(const std::string& group) const;    // child groups, in order
  std::vector<std::string> datasets(const std::string& group) const;  // child datasets, in order
  std::string text(const std::string& dataset) const;                 // a scalar string
  std::vector<std::string> strings(const std::string& dataset) const; // a 1-D string dataset
  ColumnData array(const std::string& dataset) const;                 // a whole 1-D dataset
  // The 1-D datasets of a group as columns (type as stored, units, description, codes).
  std::vector<ColumnSpec> columns(const std::string& group) const;
  std::uint64_t rows(const std::string& group) const;  // length of the group's first column
  // Rows [offset, offset + n) of the group's columns `cols` (as columns() gave them) into
  // `out`, which is reset to those columns.
  void read(const std::string& group, const std::vector<ColumnSpec>& cols, std::uint64_t offset,
            std::uint64_t n, Table& out) const;

 private:
  struct Impl;
  PanelReader();
  std::unique_ptr<Impl> impl_;
};

}  // namespace decouple
