#include "engine/merge.hpp"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <unordered_map>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "engine/config.hpp"
#include "engine/design.hpp"
#include "engine/panel_file.hpp"
#include "engine/run.hpp"

namespace decouple {

namespace {

namespace fs = std::filesystem;

// Values held at once while summarising (one block of rows of every ok replicate): blocks
// shrink as the number of replicates grows.
constexpr std::uint64_t kSummaryBudgetBytes = 64ull << 20;
// Rows copied per read when concatenating panels.
constexpr std::uint64_t kCopyRows = 65536;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Entry {
  std::int64_t index = -1;
  std::string h5;      // rep file (ok)
  std::string failed;  // rep_<I>.failed
};

std::optional<std::int64_t> index_in_name(const std::string& name, const char* ext) {
  static const std::regex h5(R"(rep_(\d{1,15})\.h5)"), failed(R"(rep_(\d{1,15})\.failed)");
  std::smatch m;
  if (std::regex_match(name, m, std::string_view(ext) == "h5" ? h5 : failed)) return std::stoll(m[1]);
  return std::nullopt;
}

std::int64_t int_attribute(const PanelReader& r, const char* name) {
  const auto v = r.attribute("/", name);
  if (!v || !std::holds_alternative<std::int64_t>(*v))
    throw InputError(r.path(), name, "root attribute missing or not an integer (not a decouple run file?)");
  return std::get<std::int64_t>(*v);
}

std::string string_attribute(const PanelReader& r, const char* name) {
  const auto v = r.attribute("/", name);
  if (!v || !std::holds_alternative<std::string>(*v))
    throw InputError(r.path(), name, "root attribute missing (written by an older decouple? run it again)");
  return std::get<std::string>(*v);
}

std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// The inputs as replicate entries by index.
std::map<std::int64_t, Entry> collect(const std::vector<std::string>& inputs) {
  std::map<std::int64_t, Entry> by_index;
  std::vector<std::string> loose;  // rep files named on the command line: index from the file
  auto add = [&](std::int64_t i, const std::string& path, bool is_h5) {
    Entry& e = by_index[i];
    e.index = i;
    std::string& slot = is_h5 ? e.h5 : e.failed;
    if (!slot.empty())
      throw InputError(path, "replicate", fmt::format("replicate {} appears twice (also {})", i, slot));
    slot = path;
  };
  for (const auto& in : inputs) {
    std::error_code ec;
    const auto st = fs::status(in, ec);
    if (!fs::exists(st)) throw InputError(in, "FILE", "no such file or folder");
    if (fs::is_directory(st)) {
      std::size_t found = 0;
      std::vector<fs::path> names;
      for (const auto& d : fs::directory_iterator(in)) names.push_back(d.path());
      std::sort(names.begin(), names.end());
      for (const auto& p : names) {
        const std::string name = p.filename().string();
        if (auto i = index_in_name(name, "h5")) {
          loose.push_back(p.string());
          ++found;
        } else if (auto j = index_in_name(name, "failed")) {
          add(*j, p.string(), false);
          ++found;
        }
      }
      if (found == 0) throw InputError(in, "DIR", "holds no rep_<I>.h5 or rep_<I>.failed");
    } else if (fs::path(in).extension() == ".failed") {
      const auto j = index_in_name(fs::path(in).filename().string(), "failed");
      if (!j) throw InputError(in, "FILE", "a failure record must be named rep_<I>.failed");
      add(*j, in, false);
    } else {
      loose.push_back(in);
    }
  }
  // A rep file's index is its `replicate` attribute (in a folder it must match the name).
  for (const auto& path : loose) {
    const PanelReader r(path);
    const std::int64_t i = int_attribute(r, "replicate");
    if (auto named = index_in_name(fs::path(path).filename().string(), "h5"); named && *named != i)
      throw InputError(path, "replicate", fmt::format("the file says replicate {}, its name {}", i, *named));
    add(i, path, true);
  }
  return by_index;
}

bool integer_type(ColumnType t) { return t == ColumnType::i32 || t == ColumnType::i64; }

std::int64_t int_at(const ColumnData& c, std::size_t r) {
  if (const auto* v = std::get_if<std::vector<std::int32_t>>(&c)) return (*v)[r];
  return std::get<std::vector<std::int64_t>>(c)[r];
}

// A panel as the first ok replicate has it, and what the others say about it.
struct PanelInfo {
  std::string name;
  std::vector<ColumnSpec> columns;
  std::size_t keys = 0;             // leading integer columns: period and the entities
  std::vector<std::size_t> values;  // f64 columns
  std::uint64_t rows = 0;           // first replicate's
  std::uint64_t key_hash = 0;       // first replicate's keys (and row count)
  bool same_keys = true;            // every ok replicate has these keys, row for row
};

std::uint64_t key_hash(const PanelReader& r, const PanelInfo& p) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::uint64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xFF;
      h *= 0x100000001b3ull;
    }
  };
  const std::string g = "/panel/" + p.name;
  const std::uint64_t rows = r.rows(g);
  mix(rows);
  const std::vector<ColumnSpec> keys(p.columns.begin(), p.columns.begin() + static_cast<std::ptrdiff_t>(p.keys));
  Table t;
  for (std::uint64_t off = 0; off < rows; off += kCopyRows) {
    const std::uint64_t n = std::min(kCopyRows, rows - off);
    r.read(g, keys, off, n, t);
    for (std::size_t c = 0; c < keys.size(); ++c)
      for (std::size_t i = 0; i < n; ++i) mix(static_cast<std::uint64_t>(int_at(t.columns[c], i)));
  }
  return h;
}

// A code list (/meta/<name>, 1-D strings): the union over replicates in first-seen order.
struct CodeList {
  std::vector<std::string> first, names;
  std::unordered_map<std::string, std::int64_t> index;
  bool seeded = false, varies = false;  // varies: some replicate's list differs from the first's
  void add(const std::vector<std::string>& list) {
    if (!seeded) first = list;
    varies = varies || (seeded && list != first);
    seeded = true;
    for (const auto& s : list)
      if (index.emplace(s, static_cast<std::int64_t>(names.size())).second) names.push_back(s);
  }
};

bool under_meta_list(const std::string& codes) {
  // "/meta/<name>": a list; "/meta/<table>/<column>": a table's column.
  return codes.starts_with("/meta/") && codes.find('/', 6) == std::string::npos;
}

// numpy's linear interpolation between order statistics (np.quantile's default, "type 7"),
// with its lerp so results match to the last bit where numpy's do.
double quantile_sorted(const std::vector<double>& x, double p) {
  const double h = static_cast<double>(x.size() - 1) * p;
  const double lo = std::floor(h);
  const auto i = static_cast<std::size_t>(lo);
  const std::size_t j = std::min(i + 1, x.size() - 1);
  const double t = h - lo;
  const double a = x[i], b = x[j], d = b - a;
  return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

// Rows collected before they are appended: small appends would make HDF5 decompress and
// recompress a panel's last chunk again for every replicate (or summary block).
class Appender {
 public:
  Appender(PanelFile& file, std::string group, const std::vector<ColumnSpec>& specs) : file_(file), group_(std::move(group)) {
    for (const auto& s : specs) buf_.add(s);
  }
  void add(Table& rows) {
    for (std::size_t c = 0; c < buf_.columns.size(); ++c)
      std::visit([&](auto& to) {
        auto& from = std::get<std::decay_t<decltype(to)>>(rows.columns[c]);
        to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
      }, buf_.columns[c]);
    if (buf_.rows() >= kCopyRows) flush();
  }
  void flush() {
    if (buf_.rows() > 0) file_.append(group_, buf_);
    buf_.clear_rows();
  }

 private:
  PanelFile& file_;
  std::string group_;
  Table buf_;
};

ColumnSpec stat_spec(const ColumnSpec& v, const char* suffix, const std::string& what) {
  return {v.name + suffix, ColumnType::f64, v.units, fmt::format("{} across replicates of: {}", what, v.description), {}};
}

}  // namespace

MergeSummary merge_replicates(const MergeOptions& o) {
  if (o.inputs.empty()) throw InputError("command line", "DIR|FILES", "nothing to merge");
  const auto entries = collect(o.inputs);
  if (entries.empty()) throw InputError(o.inputs.front(), "DIR|FILES", "nothing to merge");

  // ---- pass 1: every ok replicate, one file at a time: config, panels, keys, code lists
  std::vector<const Entry*> ok;
  for (const auto& [i, e] : entries)
    if (!e.h5.empty()) ok.push_back(&e);
  std::string config_id, first_path;
  std::vector<PanelInfo> panels;
  std::map<std::string, CodeList> lists;
  std::map<std::string, std::uint64_t> table_codes;  // "/meta/<table>/<column>" → hash of its first file's list
  for (const Entry* e : ok) {
    const PanelReader r(e->h5);
    const std::string id = string_attribute(r, "config_id");
    const bool first = first_path.empty();
    if (first) {
      config_id = id;
      first_path = e->h5;
    } else if (id != config_id) {
      throw InputError(e->h5, "config_id",
                       fmt::format("{} differs from {} in {}: replicates of different configurations cannot be merged",
                                   id, config_id, first_path));
    }
    const auto names = r.exists("/panel") ? r.groups("/panel") : std::vector<std::string>{};
    if (first) {
      for (const auto& n : names) {
        PanelInfo p;
        p.name = n;
        p.columns = r.columns("/panel/" + n);
        while (p.keys < p.columns.size() && integer_type(p.columns[p.keys].type)) ++p.keys;
        for (std::size_t c = p.keys; c < p.columns.size(); ++c)
          if (p.columns[c].type == ColumnType::f64) p.values.push_back(c);
        p.rows = r.rows("/panel/" + n);
        panels.push_back(std::move(p));
      }
    } else {
      std::vector<std::string> want;
      for (const auto& p : panels) want.push_back(p.name);
      if (names != want)
        throw InputError(e->h5, "/panel", fmt::format("holds other panels than {}", first_path));
    }
    for (auto& p : panels) {
      const auto cols = r.columns("/panel/" + p.name);
      bool same = cols.size() == p.columns.size();
      for (std::size_t c = 0; same && c < cols.size(); ++c)
        same = cols[c].name == p.columns[c].name && cols[c].type == p.columns[c].type;
      if (!same) throw InputError(e->h5, "/panel/" + p.name, fmt::format("has other columns than in {}", first_path));
      const std::uint64_t h = p.keys > 0 ? key_hash(r, p) : 0;
      if (first) p.key_hash = h;
      p.same_keys = p.same_keys && p.keys > 0 && h == p.key_hash;
      for (const auto& c : p.columns) {
        if (c.codes.empty() || !integer_type(c.type) || under_meta_list(c.codes) || !c.codes.starts_with("/meta/")) continue;
        // A table column as codes (firm ids): it cannot be merged, so it must agree.
        const auto list = r.strings(c.codes);
        std::uint64_t lh = 0xcbf29ce484222325ull;
        for (const auto& s : list) {
          for (const unsigned char ch : s + '\n') lh = (lh ^ ch) * 0x100000001b3ull;
        }
        auto [it, fresh] = table_codes.emplace(c.codes, lh);
        if (!fresh && it->second != lh)
          throw InputError(e->h5, c.codes,
                           fmt::format("differs from {}: a swept key changes this list, so codes cannot be merged", first_path));
      }
    }
    if (r.exists("/meta"))
      for (const auto& c : r.columns("/meta")) {
        const std::string path = "/meta/" + c.name;
        if (c.type != ColumnType::str || (!first && !lists.contains(path))) continue;
        lists[path].add(r.strings(path));
      }
  }

  // ---- the replicates table
  std::int64_t n = entries.rbegin()->first + 1;
  EnsembleSpec spec;
  std::optional<std::uint64_t> base_seed;
  std::string config_text;
  std::vector<Attribute> root;
  if (!ok.empty()) {
    const PanelReader r(first_path);
    config_text = r.text("/config");
    spec = load_scenario_text(config_text, first_path + ":/config").ensemble;
    if (spec.present) n = std::max<std::int64_t>(n, spec.replications);
    if (const auto b = r.attribute("/", "base_seed"); b && std::holds_alternative<std::int64_t>(*b))
      base_seed = static_cast<std::uint64_t>(std::get<std::int64_t>(*b));
    root = r.attributes("/");
  }
  MergeSummary s;
  s.replications = n;
  Table reps;
  reps.add({"index", ColumnType::i64, "1", "replicate index I (rep_<I>.h5)", {}});
  reps.add({"seed", ColumnType::i64, "1", "the replicate's run.seed (-1: not known)", {}});
  reps.add({"status", ColumnType::str, "", "ok, failed (see message) or missing (no file)", {}});
  reps.add({"message", ColumnType::str, "", "the error of a failed replicate (first line of rep_<I>.failed)", {}});
  for (const auto& p : spec.parameters)
    reps.add({p.key, ColumnType::f64, "", fmt::format("swept parameter {} ({} design)", p.key, to_string(spec.design)), {}});
  for (std::int64_t i = 0; i < n; ++i) {
    const auto it = entries.find(i);
    const Entry* e = it == entries.end() ? nullptr : &it->second;
    std::string status = "missing", message;
    std::int64_t seed = base_seed ? static_cast<std::int64_t>(replicate_seed(*base_seed, static_cast<int>(i))) : -1;
    if (e && !e->h5.empty()) {
      status = "ok";
      seed = int_attribute(PanelReader(e->h5), "seed");
    } else if (e) {
      status = "failed";
      message = first_line(e->failed);
    }
    s.ok += status == "ok";
    s.failed += status == "failed";
    s.missing += status == "missing";
    reps.i64(0).push_back(i);
    reps.i64(1).push_back(seed);
    reps.str(2).push_back(status);
    reps.str(3).push_back(message);
    if (!spec.parameters.empty()) {
      const auto v = parameter_values(spec, i);
      for (std::size_t j = 0; j < v.size(); ++j) reps.f64(4 + j).push_back(v[j]);
    }
  }

  // ---- pass 2: write
  PanelFile out(o.out, o.force, MPI_COMM_SELF);
  if (root.empty()) root.push_back({"format", std::string("decouple-panel")});
  root.push_back({"replications", n});
  root.push_back({"ok", s.ok});
  root.push_back({"failed", s.failed});
  root.push_back({"missing", s.missing});
  out.set_attributes("/", root);
  if (!config_text.empty()) out.write_text("/config", config_text);
  out.write_table("/replicates", reps);
  reps = Table{};

  if (!ok.empty()) {
    const PanelReader r(first_path);
    for (const auto& [path, list] : lists) out.write_strings(path, list.names);
    for (const auto& g : r.groups("/meta")) {
      // Tables are the first ok replicate's (entrants' entry periods and costs differ by replicate).
      const std::string path = "/meta/" + g;
      Table t;
      r.read(path, r.columns(path), 0, r.rows(path), t);
      out.write_table(path, t);
    }
  }

  for (const auto& p : panels) {
    std::vector<ColumnSpec> specs{{"replicate", ColumnType::i64, "1", "replicate index (see /replicates)", {}}};
    specs.insert(specs.end(), p.columns.begin(), p.columns.end());
    const std::string g = "/panel/" + p.name;
    out.create_panel(g, specs);
    s.panels.push_back(p.name);
    Appender sink(out, g, specs);
    Table in, rows;
    for (const Entry* e : ok) {
      const PanelReader r(e->h5);
      // Code lists that differ between replicates (causes): this replicate's codes → the union's.
      std::vector<std::vector<std::int64_t>> remap(p.columns.size());
      for (std::size_t c = 0; c < p.columns.size(); ++c) {
        const auto it = lists.find(p.columns[c].codes);
        if (it == lists.end() || !it->second.varies || !integer_type(p.columns[c].type)) continue;
        for (const auto& name : r.strings(it->first)) remap[c].push_back(it->second.index.at(name));
      }
      const std::uint64_t total = r.rows(g);
      for (std::uint64_t off = 0; off < total; off += kCopyRows) {
        const std::uint64_t k = std::min(kCopyRows, total - off);
        r.read(g, p.columns, off, k, in);
        for (std::size_t c = 0; c < remap.size(); ++c) {
          if (remap[c].empty()) continue;
          auto fix = [&](auto& v) {
            for (auto& x : v)
              if (x >= 0 && static_cast<std::size_t>(x) < remap[c].size()) x = static_cast<std::decay_t<decltype(x)>>(remap[c][x]);
          };
          if (auto* v = std::get_if<std::vector<std::int32_t>>(&in.columns[c])) fix(*v);
          if (auto* v = std::get_if<std::vector<std::int64_t>>(&in.columns[c])) fix(*v);
        }
        rows = Table{};
        rows.add(specs[0]);
        rows.i64(0).assign(k, e->index);
        for (std::size_t c = 0; c < p.columns.size(); ++c) {
          rows.specs.push_back(p.columns[c]);
          rows.columns.push_back(std::move(in.columns[c]));
        }
        sink.add(rows);
      }
    }
    sink.flush();
  }

  // Summaries: a block of rows of every ok replicate at a time, within the memory budget.
  const auto nok = static_cast<std::uint64_t>(ok.size());
  for (const auto& p : panels) {
    if (ok.empty() || !p.same_keys || p.rows == 0) continue;
    std::vector<ColumnSpec> specs(p.columns.begin(), p.columns.begin() + static_cast<std::ptrdiff_t>(p.keys));
    specs.push_back({"n", ColumnType::i64, "1", "replicates summarised (the ok ones)", {}});
    std::vector<ColumnSpec> value_specs;
    for (std::size_t c : p.values) {
      value_specs.push_back(p.columns[c]);
      specs.push_back(stat_spec(p.columns[c], "_mean", "mean"));
      specs.push_back(stat_spec(p.columns[c], "_q05", "5% quantile"));
      specs.push_back(stat_spec(p.columns[c], "_q50", "median"));
      specs.push_back(stat_spec(p.columns[c], "_q95", "95% quantile"));
    }
    const std::vector<ColumnSpec> key_specs(specs.begin(), specs.begin() + static_cast<std::ptrdiff_t>(p.keys));
    const std::string g = "/panel/" + p.name, sg = "/summary/" + p.name;
    out.create_panel(sg, specs);
    s.summaries.push_back(p.name);
    Appender sink(out, sg, specs);
    const std::uint64_t nv = std::max<std::uint64_t>(1, value_specs.size());
    const std::uint64_t block = std::clamp<std::uint64_t>(kSummaryBudgetBytes / (8 * nok * nv), 1, kCopyRows);
    std::vector<double> buf, x;
    Table in, t;
    for (std::uint64_t off = 0; off < p.rows; off += block) {
      const std::uint64_t b = std::min(block, p.rows - off);
      buf.assign(value_specs.size() * b * nok, kNaN);
      for (std::uint64_t k = 0; k < nok; ++k) {
        const PanelReader r(ok[k]->h5);
        r.read(g, value_specs, off, b, in);
        for (std::size_t c = 0; c < value_specs.size(); ++c) {
          const auto& v = std::get<std::vector<double>>(in.columns[c]);
          for (std::uint64_t i = 0; i < b; ++i) buf[(c * b + i) * nok + k] = v[i];
        }
      }
      t = Table{};
      for (const auto& sp : specs) t.add(sp);
      {
        const PanelReader r(ok.front()->h5);
        r.read(g, key_specs, off, b, in);
        for (std::size_t c = 0; c < p.keys; ++c) t.columns[c] = std::move(in.columns[c]);
      }
      t.i64(p.keys).assign(b, static_cast<std::int64_t>(nok));
      for (std::size_t c = 0; c < value_specs.size(); ++c) {
        auto& mean = t.f64(p.keys + 1 + 4 * c);
        auto& q05 = t.f64(p.keys + 2 + 4 * c);
        auto& q50 = t.f64(p.keys + 3 + 4 * c);
        auto& q95 = t.f64(p.keys + 4 + 4 * c);
        for (std::uint64_t i = 0; i < b; ++i) {
          const double* v = &buf[(c * b + i) * nok];
          x.assign(v, v + nok);
          double sum = 0.0;
          bool nan = false;
          for (double y : x) {
            sum += y;
            nan = nan || std::isnan(y);
          }
          // As numpy: any NaN makes the mean and every quantile NaN.
          if (nan) {
            for (auto* col : {&mean, &q05, &q50, &q95}) col->push_back(kNaN);
            continue;
          }
          std::sort(x.begin(), x.end());
          mean.push_back(sum / static_cast<double>(nok));
          q05.push_back(quantile_sorted(x, 0.05));
          q50.push_back(quantile_sorted(x, 0.50));
          q95.push_back(quantile_sorted(x, 0.95));
        }
      }
      sink.add(t);
    }
    sink.flush();
  }
  out.commit();
  return s;
}

}  // namespace decouple
