// Scenario loading: TOML files (with `base` layering and --set overrides) → validated
// plain structs. toml++ is used only in this file. Every problem is collected with its
// source position and thrown together as one InputError (DESIGN §7).
#include "engine/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <climits>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <toml++/toml.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "engine/design.hpp"
#include "engine/synthetic.hpp"

namespace decouple {

bool parse_year_month(const std::string& text, int& year, int& month) {
  if (text.size() != 7 || text[4] != '-') return false;
  for (std::size_t i = 0; i < 7; ++i) {
    if (i == 4) continue;
    if (text[i] < '0' || text[i] > '9') return false;
  }
  const int y = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
  const int m = (text[5] - '0') * 10 + (text[6] - '0');
  if (m < 1 || m > 12) return false;
  year = y;
  month = m;
  return true;
}

namespace {

namespace fs = std::filesystem;

// Nodes parsed from the N-th --set value carry the source path "--set:N"; their
// problems are reported as "--set:N:1: key: message".
constexpr std::string_view kSetSource = "--set:";
constexpr double kInf = std::numeric_limits<double>::infinity();

// Top-level arrays of tables and the tables that may appear at the top level.
const std::vector<std::string_view> kTopKeys = {"run",    "behaviour", "output", "region",
                                                "good",   "market",    "route",  "firm",
                                                "entrant_pool", "government", "event", "agreement",
                                                "region_group", "firm_group", "ensemble"};
const std::set<std::string_view> kEntryArrays = {"region", "good", "market", "route", "firm",
                                                 "entrant_pool", "government", "event",
                                                 "region_group", "firm_group"};

// ---------------------------------------------------------------------------------------
// Positions and problems

struct Pos {
  std::string file;
  int line = 0;
  int column = 0;
  std::string text() const { return fmt::format("{}:{}:{}", file, line, column); }
};

class Ctx {
 public:
  explicit Ctx(std::string top) : top_(std::move(top)) {}

  Pos pos(const toml::source_region& s) const {
    Pos p;
    if (s.path && !s.path->empty()) {
      const std::string& path = *s.path;
      if (std::string_view(path).starts_with(kSetSource)) {
        p.file = "--set";
        p.line = std::atoi(path.c_str() + kSetSource.size());
        p.column = 1;
        return p;
      }
      p.file = path;
      p.line = static_cast<int>(s.begin.line);
      p.column = static_cast<int>(s.begin.column);
      return p;
    }
    p.file = top_;  // a node without a source (should not happen): the top-level file
    return p;
  }
  Pos pos(const toml::node& n) const { return pos(n.source()); }

  void add(const Pos& p, std::string key, std::string message) {
    problems_.push_back(Problem{p.file, p.line, p.column, std::move(key), std::move(message)});
  }
  void add(const toml::node& n, std::string key, std::string message) {
    add(pos(n), std::move(key), std::move(message));
  }
  bool ok() const { return problems_.empty(); }
  const std::vector<Problem>& problems() const { return problems_; }

  [[noreturn]] void raise() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      if (a.file != b.file) return a.file < b.file;
      if (a.line != b.line) return a.line < b.line;
      return a.column < b.column;
    });
    throw InputError(std::move(problems_));
  }

 private:
  std::string top_;
  std::vector<Problem> problems_;
};

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string fmt_num(double v) { return fmt::format("{}", v); }

// The value of a numeric node as written (integers without a decimal point).
std::string got_text(const toml::node& n) {
  if (auto i = n.as_integer()) return fmt::format("{}", i->get());
  if (auto f = n.as_floating_point()) return fmt_num(f->get());
  return "?";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

// "unknown key", with "(did you mean 'x'?)" when a known key is close.
std::string unknown_key_message(std::string_view key, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  const std::string lk = lower(key);
  for (const auto& k : known) {
    const std::size_t d = edit_distance(lk, lower(k));
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  const std::size_t limit = key.size() >= 6 ? 2 : 1;
  if (!best.empty() && best_d <= limit && best_d < key.size())
    return fmt::format("unknown key (did you mean '{}'?)", best);
  return "unknown key";
}

struct Range {
  double lo = -kInf, hi = kInf;
  bool lo_open = false, hi_open = false;
  bool contains(double v) const {
    if (lo_open ? !(v > lo) : !(v >= lo)) return false;
    if (hi_open ? !(v < hi) : !(v <= hi)) return false;
    return true;
  }
  std::string text() const {
    if (std::isinf(hi)) return fmt::format("{} {}", lo_open ? ">" : ">=", fmt_num(lo));
    if (std::isinf(lo)) return fmt::format("{} {}", hi_open ? "<" : "<=", fmt_num(hi));
    return fmt::format("in {}{}, {}{}", lo_open ? '(' : '[', fmt_num(lo), fmt_num(hi), hi_open ? ')' : ']');
  }
};
Range ge(double v) { return {v, kInf, false, false}; }
Range gt(double v) { return {v, kInf, true, false}; }
Range in(double lo, double hi, bool lo_open = false, bool hi_open = false) { return {lo, hi, lo_open, hi_open}; }

// ---------------------------------------------------------------------------------------
// Typed reading of single nodes

std::optional<double> read_number(Ctx& c, const toml::node& n, const std::string& key, Range r) {
  double v = 0.0;
  if (auto i = n.as_integer()) {
    v = static_cast<double>(i->get());
  } else if (auto f = n.as_floating_point()) {
    v = f->get();
    if (!std::isfinite(v)) {
      c.add(n, key, "must be a finite number");
      return std::nullopt;
    }
  } else {
    c.add(n, key, fmt::format("expected a number, got {}", type_name(n)));
    return std::nullopt;
  }
  if (!r.contains(v)) {
    c.add(n, key, fmt::format("must be {} (got {})", r.text(), got_text(n)));
    return std::nullopt;
  }
  return v;
}

std::optional<std::int64_t> read_integer(Ctx& c, const toml::node& n, const std::string& key, Range r,
                                         std::int64_t max = INT_MAX) {
  auto i = n.as_integer();
  if (!i) {
    c.add(n, key, fmt::format("expected an integer, got {}", type_name(n)));
    return std::nullopt;
  }
  const std::int64_t v = i->get();
  if (!r.contains(static_cast<double>(v))) {
    c.add(n, key, fmt::format("must be {} (got {})", r.text(), v));
    return std::nullopt;
  }
  if (v > max) {
    c.add(n, key, fmt::format("must be <= {} (got {})", max, v));
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> read_string(Ctx& c, const toml::node& n, const std::string& key) {
  if (auto s = n.as_string()) return s->get();
  c.add(n, key, fmt::format("expected a string, got {}", type_name(n)));
  return std::nullopt;
}

std::optional<bool> read_bool(Ctx& c, const toml::node& n, const std::string& key) {
  if (auto b = n.as_boolean()) return b->get();
  c.add(n, key, fmt::format("expected a boolean, got {}", type_name(n)));
  return std::nullopt;
}

template <class E>
using Choices = std::vector<std::pair<std::string_view, E>>;

template <class E>
std::optional<E> read_choice(Ctx& c, const toml::node& n, const std::string& key, const Choices<E>& choices) {
  auto s = read_string(c, n, key);
  if (!s) return std::nullopt;
  for (const auto& [name, value] : choices)
    if (name == *s) return value;
  std::string list;
  for (const auto& [name, value] : choices) list += (list.empty() ? "" : ", ") + std::string(name);
  c.add(n, key, fmt::format("must be one of {} (got '{}')", list, *s));
  return std::nullopt;
}

const Choices<Bloc> kBlocs = {{"west", Bloc::west}, {"china", Bloc::china}, {"third", Bloc::third}};
const Choices<FirmKind> kKinds = {{"western", FirmKind::western}, {"soe", FirmKind::soe}};
const Choices<Rule> kRules = {{"none", Rule::none},
                              {"reactive", Rule::reactive},
                              {"diversify", Rule::diversify},
                              {"reciprocal", Rule::reciprocal}};
const Choices<ControlKind> kControls = {{"ban", ControlKind::ban},
                                        {"quota", ControlKind::quota},
                                        {"license", ControlKind::license},
                                        {"none", ControlKind::none}};
const Choices<Design> kDesigns = {{"grid", Design::grid},
                                  {"random", Design::random},
                                  {"latin_hypercube", Design::latin_hypercube},
                                  {"sobol", Design::sobol}};
const Choices<Instrument> kInstruments = {{"tariff", Instrument::tariff},
                                          {"export_control", Instrument::export_control},
                                          {"production_subsidy", Instrument::production_subsidy},
                                          {"investment_subsidy", Instrument::investment_subsidy},
                                          {"price_floor", Instrument::price_floor},
                                          {"equity_stake", Instrument::equity_stake},
                                          {"output_weight", Instrument::output_weight},
                                          {"underpricing", Instrument::underpricing},
                                          {"sourcing_mandate", Instrument::sourcing_mandate},
                                          {"truce", Instrument::truce}};

// ---------------------------------------------------------------------------------------
// One table's keys: typed getters that remember which keys are known, then finish()
// reports every other key as unknown.

class Fields {
 public:
  Fields(Ctx& c, const toml::table& t, std::string prefix) : c_(c), t_(t), prefix_(std::move(prefix)) {}

  const toml::table& table() const { return t_; }
  const std::string& prefix() const { return prefix_; }
  std::string key(std::string_view k) const {
    return prefix_.empty() ? std::string(k) : prefix_ + "." + std::string(k);
  }
  Ctx& ctx() { return c_; }

  // Marks `k` known; the node or nullptr. A missing required key is reported at the table.
  const toml::node* node(std::string_view k, bool required = false) {
    known_.emplace_back(k);
    const toml::node* n = t_.get(k);
    if (!n && required) missing(k);
    return n;
  }
  bool has(std::string_view k) const { return t_.contains(k); }
  void missing(std::string_view k) { c_.add(t_, key(k), "required key missing"); }

  std::optional<std::string> str(std::string_view k, bool required = false) {
    const toml::node* n = node(k, required);
    return n ? read_string(c_, *n, key(k)) : std::nullopt;
  }
  std::optional<double> num(std::string_view k, Range r, bool required = false) {
    const toml::node* n = node(k, required);
    return n ? read_number(c_, *n, key(k), r) : std::nullopt;
  }
  std::optional<int> integer(std::string_view k, Range r, bool required = false) {
    const toml::node* n = node(k, required);
    if (!n) return std::nullopt;
    auto v = read_integer(c_, *n, key(k), r);
    return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
  }
  std::optional<bool> boolean(std::string_view k, bool required = false) {
    const toml::node* n = node(k, required);
    return n ? read_bool(c_, *n, key(k)) : std::nullopt;
  }
  template <class E>
  std::optional<E> choice(std::string_view k, const Choices<E>& choices, bool required = false) {
    const toml::node* n = node(k, required);
    return n ? read_choice(c_, *n, key(k), choices) : std::nullopt;
  }

  // Keys known but not allowed here are given `message` instead of "unknown key".
  void finish(const std::set<std::string>& not_allowed = {}, const std::string& not_allowed_message = {}) {
    for (const auto& [k, v] : t_) {
      const std::string ks(k.str());
      // Reported at the key itself (the value's position if the key has none).
      const Pos at = k.source().path ? c_.pos(k.source()) : c_.pos(v);
      if (not_allowed.count(ks)) {
        c_.add(at, key(ks), not_allowed_message);
        continue;
      }
      if (std::find(known_.begin(), known_.end(), ks) != known_.end()) continue;
      c_.add(at, key(ks), unknown_key_message(ks, known_));
    }
  }

 private:
  Ctx& c_;
  const toml::table& t_;
  std::string prefix_;
  std::vector<std::string> known_;
};

bool valid_id(std::string_view id) {
  if (id.empty()) return false;
  for (char ch : id)
    if (ch == '.' || ch == '=' || std::isspace(static_cast<unsigned char>(ch))) return false;
  return true;
}

const std::string* string_at(const toml::table& t, std::string_view k) {
  const toml::node* n = t.get(k);
  if (!n) return nullptr;
  auto s = n->as_string();
  return s ? &s->get() : nullptr;
}

// ---------------------------------------------------------------------------------------
// Reading files and layering

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// The key an [[array]] entry is merged on, or nullopt when it has none.
std::optional<std::string> merge_key(std::string_view array, const toml::table& t) {
  auto get = [&](std::string_view k) { return string_at(t, k); };
  if (array == "region" || array == "good" || array == "firm" || array == "entrant_pool" ||
      array == "region_group" || array == "firm_group") {
    if (auto id = get("id")) return *id;
    return std::nullopt;
  }
  if (array == "market") {
    auto g = get("good");
    auto r = get("region");
    if (g && r) return *g + "@" + *r;
    return std::nullopt;
  }
  if (array == "government") {
    if (auto r = get("region")) return *r;
    return std::nullopt;
  }
  if (array == "route") {
    auto o = get("origin");
    auto d = get("destination");
    if (!o || !d) return std::nullopt;
    if (t.contains("good") && !get("good")) return std::nullopt;
    auto g = get("good");
    return *o + '\x1f' + *d + '\x1f' + (g ? *g : std::string());
  }
  return std::nullopt;
}

// Merges `over` into `base`, moving nodes so they keep their source positions.
void merge_tables(toml::table& base, toml::table& over, bool top_level) {
  for (auto&& [k, v] : over) {
    const std::string ks(k.str());
    toml::node* b = base.get(ks);
    if (b && top_level && ks == "event" && b->is_array() && v.is_array()) {
      for (auto&& e : *v.as_array()) b->as_array()->push_back(std::move(e));
      continue;
    }
    if (b && top_level && kEntryArrays.count(ks) && b->is_array() && v.is_array()) {
      toml::array& barr = *b->as_array();
      // Keys of the base entries; each base entry absorbs at most one overlay entry, so a
      // duplicate id in the overlay stays visible to validation.
      std::vector<std::optional<std::string>> keys;
      for (auto&& e : barr) keys.push_back(e.is_table() ? merge_key(ks, *e.as_table()) : std::nullopt);
      std::vector<bool> used(keys.size(), false);
      for (auto&& e : *v.as_array()) {
        std::optional<std::string> key = e.is_table() ? merge_key(ks, *e.as_table()) : std::nullopt;
        bool merged = false;
        if (key) {
          for (std::size_t i = 0; i < keys.size(); ++i) {
            if (!used[i] && keys[i] && *keys[i] == *key) {
              used[i] = true;
              merge_tables(*barr.get(i)->as_table(), *e.as_table(), false);
              merged = true;
              break;
            }
          }
        }
        if (!merged) barr.push_back(std::move(e));
      }
      continue;
    }
    if (b && b->is_table() && v.is_table()) {
      merge_tables(*b->as_table(), *v.as_table(), false);
      continue;
    }
    base.insert_or_assign(k, std::move(v));  // the toml::key keeps its source position
  }
}

class Layering {
 public:
  explicit Layering(Ctx& c) : c_(c) {}

  // Loads `path` and its bases. `from`: the `base` node that names it (nullptr for the
  // top-level file), for errors about a missing base.
  std::optional<toml::table> load(const std::string& path, const toml::node* from) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) {
      if (from)
        c_.add(*from, "base", fmt::format("base file '{}' not found", path));
      else
        c_.add(Pos{path, 0, 0}, "file", "file not found");
      return std::nullopt;
    }
    if (fs::is_directory(st)) {
      if (from)
        c_.add(*from, "base", fmt::format("base '{}' is a directory", path));
      else
        c_.add(Pos{path, 0, 0}, "file", "is a directory, not a file");
      return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    std::string text;
    if (in) text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in || in.bad()) {
      c_.add(from ? c_.pos(*from) : Pos{path, 0, 0}, from ? "base" : "file",
             fmt::format("cannot read '{}'", path));
      return std::nullopt;
    }
    if (text.find('\0') != std::string::npos || !valid_utf8(text)) {
      c_.add(Pos{path, 0, 0}, "file", "not a text TOML file (NUL byte or invalid UTF-8)");
      return std::nullopt;
    }
    toml::table doc;
    try {
      doc = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      const Pos p = c_.pos(e.source());
      c_.add(Pos{path, p.line, p.column}, "syntax", std::string(e.description()));
      return std::nullopt;
    }
    if (doc.empty()) {
      c_.add(Pos{path, 0, 0}, "file", "file is empty (no [run] table)");
      return std::nullopt;
    }
    const toml::node* base_node = doc.get("base");
    if (!base_node) return doc;

    auto base_name = base_node->as_string();
    if (!base_name) {
      c_.add(*base_node, "base", fmt::format("expected a string, got {}", type_name(*base_node)));
      return std::nullopt;
    }
    const std::string base_path = (fs::path(path).parent_path() / base_name->get()).lexically_normal().string();
    const std::string canonical = fs::weakly_canonical(base_path, ec).string();
    stack_.push_back({fs::weakly_canonical(path, ec).string(), path});
    for (const auto& [canon, shown] : stack_) {
      if (canon == canonical) {
        std::string chain;
        bool on = false;
        for (const auto& [c2, s2] : stack_) {
          if (c2 == canonical) on = true;
          if (on) chain += s2 + " -> ";
        }
        chain += base_path;
        c_.add(*base_node, "base", fmt::format("base cycle: {}", chain));
        stack_.pop_back();
        return std::nullopt;
      }
    }
    std::optional<toml::table> base = load(base_path, base_node);
    stack_.pop_back();
    if (!base) return std::nullopt;
    doc.erase("base");
    merge_tables(*base, doc, true);
    return base;
  }

 private:
  Ctx& c_;
  std::vector<std::pair<std::string, std::string>> stack_;  // (canonical, as shown)
};

// ---------------------------------------------------------------------------------------
// --set overrides

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string toml_quote(std::string_view s) {
  std::string r = "\"";
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      r += '\\';
      r += ch;
    } else if (u < 0x20 || u == 0x7F) {
      r += fmt::format("\\u{:04X}", static_cast<unsigned>(u));
    } else {
      r += ch;
    }
  }
  return r + "\"";
}

struct Segment {
  std::string name;
  std::optional<std::size_t> index;
};

std::optional<Segment> parse_segment(std::string_view s) {
  Segment seg;
  const std::size_t lb = s.find('[');
  if (lb == std::string_view::npos) {
    if (s.empty() || s.find(']') != std::string_view::npos) return std::nullopt;
    seg.name = std::string(s);
    return seg;
  }
  if (lb == 0 || s.back() != ']' || lb + 2 >= s.size()) return std::nullopt;
  std::size_t idx = 0;
  for (std::size_t i = lb + 1; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    idx = idx * 10 + static_cast<std::size_t>(s[i] - '0');
    if (idx > 100000000) return std::nullopt;
  }
  seg.name = std::string(s.substr(0, lb));
  seg.index = idx;
  return seg;
}

class Overrides {
 public:
  Overrides(Ctx& c, toml::table& root) : c_(c), root_(root) {}

  void apply(const std::string& text, int n) {
    n_ = n;
    const Pos here{"--set", n, 1};
    const std::size_t eq = text.find('=');
    if (eq == std::string::npos) {
      c_.add(here, trim(text), "expected key=value");
      return;
    }
    key_ = trim(std::string_view(text).substr(0, eq));
    const std::string value = text.substr(eq + 1);
    std::vector<std::string> segs;
    {
      std::size_t start = 0;
      while (true) {
        const std::size_t dot = key_.find('.', start);
        segs.push_back(key_.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
    }
    for (const auto& s : segs) {
      if (s.empty() || std::any_of(s.begin(), s.end(), [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); })) {
        c_.add(here, key_, "malformed key");
        return;
      }
    }
    // The value: a TOML value, else the text as a bare string.
    toml::table parsed;
    if (!parse_value(value, parsed) && !parse_value(toml_quote(trim(value)), parsed)) {
      c_.add(here, key_, "cannot parse the value");
      return;
    }
    toml::node& v = *parsed.get("v");

    const std::string& head = segs[0];
    if (head == "base") {
      c_.add(here, key_, "'base' cannot be set with --set (bases are merged before overrides)");
      return;
    }
    static const std::set<std::string_view> by_id = {"region", "good", "firm", "entrant_pool", "market",
                                                     "government", "region_group", "firm_group"};
    if (kEntryArrays.count(head)) {
      if (segs.size() == 1) {
        c_.add(here, key_, fmt::format("cannot replace all [[{}]] entries with --set; address one entry", head));
        return;
      }
      if (!by_id.count(head)) {
        c_.add(here, key_, fmt::format("[[{}]] entries are addressed by index: {}[N].key", head, head));
        return;
      }
      if (segs.size() < 3) {
        c_.add(here, key_, fmt::format("expected a key after '{}.{}'", head, segs[1]));
        return;
      }
      toml::table* entry = find_entry(head, segs[1]);
      if (!entry) return;
      navigate(*entry, std::vector<std::string>(segs.begin() + 2, segs.end()), v, head + "." + segs[1]);
      return;
    }
    navigate(root_, segs, v, "");
  }

 private:
  bool parse_value(const std::string& value, toml::table& out) {
    try {
      toml::table t = toml::parse("v = " + value, std::string(kSetSource) + std::to_string(n_));
      if (t.size() != 1 || !t.contains("v")) return false;
      out = std::move(t);
      return true;
    } catch (const toml::parse_error&) {
      return false;
    }
  }

  toml::table* find_entry(const std::string& array, const std::string& id) {
    const Pos here{"--set", n_, 1};
    toml::array* arr = root_.get(array) ? root_.get(array)->as_array() : nullptr;
    auto matches = [&](const toml::table& t) {
      if (array == "market") {
        const std::string* g = string_at(t, "good");
        const std::string* r = string_at(t, "region");
        return g && r && id == *g + "@" + *r;
      }
      const std::string* s = string_at(t, array == "government" ? "region" : "id");
      return s && *s == id;
    };
    if (array == "market" && id.find('@') == std::string::npos) {
      c_.add(here, key_, fmt::format("markets are addressed as market.<good>@<region> (got '{}')", id));
      return nullptr;
    }
    if (arr)
      for (auto&& e : *arr)
        if (auto t = e.as_table(); t && matches(*t)) return t;
    if (array == "market")
      c_.add(here, key_, fmt::format("no [[market]] for '{}'", id));
    else if (array == "government")
      c_.add(here, key_, fmt::format("no [[government]] for region '{}'", id));
    else
      c_.add(here, key_, fmt::format("no [[{}]] with id '{}'", array, id));
    return nullptr;
  }

  // A new, empty table carrying this override's source position.
  toml::table fresh_table() {
    toml::table t = toml::parse("t = {}", std::string(kSetSource) + std::to_string(n_));
    return std::move(*t.get("t")->as_table());
  }

  void navigate(toml::table& start, const std::vector<std::string>& segs, toml::node& v, std::string where) {
    const Pos here{"--set", n_, 1};
    toml::table* t = &start;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      auto seg = parse_segment(segs[i]);
      if (!seg) {
        c_.add(here, key_, fmt::format("malformed key segment '{}'", segs[i]));
        return;
      }
      const bool last = i + 1 == segs.size();
      where += (where.empty() ? "" : ".") + seg->name;
      if (!seg->index) {
        if (last) {
          t->insert_or_assign(seg->name, std::move(v));
          return;
        }
        toml::node* next = t->get(seg->name);
        if (!next) {
          t->insert_or_assign(seg->name, fresh_table());
          next = t->get(seg->name);
        }
        if (!next->is_table()) {
          c_.add(here, key_, fmt::format("'{}' is {}, not a table", where, type_name(*next)));
          return;
        }
        t = next->as_table();
        continue;
      }
      toml::node* arr_node = t->get(seg->name);
      const std::string name = where;
      where += fmt::format("[{}]", *seg->index);
      if (!arr_node) {
        c_.add(here, key_, fmt::format("no entry '{}' (there is no '{}')", where, name));
        return;
      }
      if (!arr_node->is_array()) {
        c_.add(here, key_, fmt::format("'{}' is {}, not an array", name, type_name(*arr_node)));
        return;
      }
      toml::array& arr = *arr_node->as_array();
      if (*seg->index >= arr.size()) {
        c_.add(here, key_, fmt::format("no entry '{}' (the array has {})", where, arr.size()));
        return;
      }
      if (last) {
        arr.replace(arr.cbegin() + static_cast<std::ptrdiff_t>(*seg->index), std::move(v));
        return;
      }
      toml::node* elem = arr.get(*seg->index);
      if (!elem->is_table()) {
        c_.add(here, key_, fmt::format("'{}' is {}, not a table", where, type_name(*elem)));
        return;
      }
      t = elem->as_table();
    }
  }

  Ctx& c_;
  toml::table& root_;
  int n_ = 0;
  std::string key_;
};

// ---------------------------------------------------------------------------------------
// Validation: merged TOML → Scenario

using IdMap = std::unordered_map<std::string, Index>;

class Builder {
 public:
  Builder(Ctx& c, const toml::table& root, Scenario& s) : c_(c), root_(root), s_(s) {}

  void build() {
    Fields top(c_, root_, "");
    for (auto k : kTopKeys) top.node(k);
    run(top);
    behaviour(top);
    regions(top);
    goods(top);
    region_groups(top);
    markets(top);
    group_markets();
    routes(top);
    firms(top);
    pools(top);
    firm_groups(top);
    governments(top);
    events(top);
    agreement(top);
    output(top);
    ensemble(top);
    top.finish();
  }

  // Where each [[ensemble.parameter]]'s `key` was written (for load_scenario's check of it).
  std::vector<Pos> ensemble_key_pos;

 private:
  // ---- helpers

  const toml::table* table_at(Fields& f, std::string_view k, bool required) {
    const toml::node* n = f.node(k, required);
    if (!n) return nullptr;
    if (!n->is_table()) {
      c_.add(*n, f.key(k), fmt::format("expected a table, got {}", type_name(*n)));
      return nullptr;
    }
    return n->as_table();
  }

  // Calls fn(index, table) for each entry of the top-level array of tables `name`.
  template <class Fn>
  void each_entry(Fields& top, std::string_view name, Fn fn) {
    const toml::node* n = top.node(name);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) {
      c_.add(*n, std::string(name), fmt::format("expected an array of tables ([[{}]]), got {}", name, type_name(*n)));
      return;
    }
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      if (!e.is_table()) {
        c_.add(e, fmt::format("{}[{}]", name, i), fmt::format("expected a table, got {}", type_name(e)));
        fn(i, nullptr);
        continue;
      }
      fn(i, e.as_table());
    }
  }

  // Calls fn(Fields&) for each inline table of the array `k` in `f`.
  template <class Fn>
  void each_inline(Fields& f, std::string_view k, Fn fn) {
    const toml::node* n = f.node(k);
    if (!n) return;
    const toml::array* a = n->as_array();
    if (!a) {
      c_.add(*n, f.key(k), fmt::format("expected an array of tables, got {}", type_name(*n)));
      return;
    }
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string key = fmt::format("{}[{}]", f.key(k), i);
      if (!e.is_table()) {
        c_.add(e, key, fmt::format("expected a table, got {}", type_name(e)));
        continue;
      }
      Fields ef(c_, *e.as_table(), key);
      fn(ef);
      ef.finish();
    }
  }

  static std::string entry_prefix(std::string_view name, std::size_t i, const toml::table& t,
                                  std::string_view id_key) {
    if (const std::string* id = string_at(t, id_key); id && !id->empty()) return fmt::format("{}.{}", name, *id);
    return fmt::format("{}[{}]", name, i);
  }

  Index lookup(const toml::node& n, const std::string& key, const IdMap& ids, std::string_view what) {
    auto s = read_string(c_, n, key);
    if (!s) return kNone;
    auto it = ids.find(*s);
    if (it == ids.end()) {
      c_.add(n, key, fmt::format("unknown {} '{}'", what, *s));
      return kNone;
    }
    return it->second;
  }
  Index ref(Fields& f, std::string_view k, const IdMap& ids, std::string_view what, bool required) {
    const toml::node* n = f.node(k, required);
    return n ? lookup(*n, f.key(k), ids, what) : kNone;
  }
  Index region_ref(Fields& f, std::string_view k, bool required = true) {
    return ref(f, k, region_ids_, "region", required);
  }
  Index good_ref(Fields& f, std::string_view k, bool required = true) {
    return ref(f, k, good_ids_, "good", required);
  }

  // An array of region ids: non-empty, no duplicates.
  std::vector<Index> region_list(Fields& f, std::string_view k, bool required) {
    std::vector<Index> out;
    const toml::node* n = f.node(k, required);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) {
      c_.add(*n, f.key(k), fmt::format("expected an array of region ids, got {}", type_name(*n)));
      return out;
    }
    if (a->empty()) {
      c_.add(*n, f.key(k), "must not be empty");
      return out;
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string key = fmt::format("{}[{}]", f.key(k), i);
      const Index r = lookup(e, key, region_ids_, "region");
      if (r == kNone) continue;
      if (!seen.insert(*string_at_node(e)).second) {
        c_.add(e, key, fmt::format("duplicate region '{}'", *string_at_node(e)));
        continue;
      }
      out.push_back(r);
    }
    return out;
  }
  // An array of ids of `what` (goods, regions), no duplicates; may be empty unless required.
  std::vector<Index> id_list(Fields& f, std::string_view k, const IdMap& ids, std::string_view what,
                             bool required) {
    std::vector<Index> out;
    const toml::node* n = f.node(k, required);
    if (!n) return out;
    const toml::array* a = n->as_array();
    if (!a) {
      c_.add(*n, f.key(k), fmt::format("expected an array of {} ids, got {}", what, type_name(*n)));
      return out;
    }
    if (required && a->empty()) c_.add(*n, f.key(k), "must not be empty");
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const std::string key = fmt::format("{}[{}]", f.key(k), i);
      const Index x = lookup(e, key, ids, what);
      if (x == kNone) continue;
      if (std::find(out.begin(), out.end(), x) != out.end()) {
        c_.add(e, key, fmt::format("duplicate {} '{}'", what, *string_at_node(e)));
        continue;
      }
      out.push_back(x);
    }
    return out;
  }

  void reactive(Fields& g, GovernmentSpec& gov) {
    const toml::table* t = table_at(g, "reactive", false);
    if (!t) return;
    Fields f(c_, *t, g.key("reactive"));
    // Allowed under any rule (read only by `reactive`), so a rule can be switched with --set.
    ReactiveSpec& r = gov.reactive;
    r.rivals = id_list(f, "rivals", region_ids_, "region", false);
    if (auto v = f.integer("lag", ge(0))) r.lag = *v;
    if (auto v = f.num("tariff_ratio", ge(0))) r.tariff_ratio = *v;
    r.leverage_goods = id_list(f, "leverage_goods", good_ids_, "good", false);
    static const Choices<ControlKind> kAnswer = {{"ban", ControlKind::ban},
                                                 {"quota", ControlKind::quota},
                                                 {"license", ControlKind::license}};
    if (auto v = f.choice("control", kAnswer)) r.control = *v;
    if (auto v = f.num("approval", in(0, 1))) r.approval = *v;
    if (auto v = f.integer("delay", ge(0))) r.delay = *v;
    if (auto v = f.num("quota", ge(0))) r.quota = *v;
    if (auto v = f.num("pain_threshold", in(0, 1, true, false))) r.pain_threshold = *v;
    if (auto v = f.integer("pain_months", ge(1))) r.pain_months = *v;
    if (auto v = f.num("truce_tariff", ge(0))) r.truce_tariff = *v;
    if (auto v = f.boolean("truce_lifts_controls")) r.truce_lifts_controls = *v;
    if (auto v = f.integer("truce_months", ge(0))) r.truce_months = *v;
    if (auto v = f.num("max_tariff", ge(0))) r.max_tariff = *v;
    if (auto v = f.boolean("escalate")) r.escalate = *v;
    if (auto v = f.num("control_above_tariff", ge(0))) r.control_above_tariff = *v;
    f.finish();
  }

  void diversify(Fields& g, GovernmentSpec& gov) {
    const toml::table* t = table_at(g, "diversify", false);
    if (!t) {
      if (gov.rule == Rule::diversify) g.missing("diversify");
      return;
    }
    Fields f(c_, *t, g.key("diversify"));
    // Read by `diversify` and `reciprocal` (the ladder); allowed under any rule.
    DiversifySpec& d = gov.diversify;
    d.goods = id_list(f, "goods", good_ids_, "good", gov.rule == Rule::diversify);
    if (auto v = period_of(f, "start", false)) d.start = *v;
    if (auto v = f.num("target", in(0, 1, true, false))) d.target = *v;
    if (auto v = f.num("hhi_target", in(0, 10000))) d.hhi_target = *v;
    if (auto v = f.integer("review_every", ge(1))) d.review_every = *v;
    if (const toml::node* n = f.node("ladder")) {
      static const Choices<Instrument> kRungs = {{"investment_subsidy", Instrument::investment_subsidy},
                                                 {"production_subsidy", Instrument::production_subsidy},
                                                 {"price_floor", Instrument::price_floor},
                                                 {"equity_stake", Instrument::equity_stake},
                                                 {"tariff", Instrument::tariff},
                                                 {"sourcing_mandate", Instrument::sourcing_mandate}};
      const toml::array* a = n->as_array();
      if (!a || a->empty()) {
        c_.add(*n, f.key("ladder"), "expected a non-empty array of instrument names");
      } else {
        d.ladder.clear();
        for (std::size_t i = 0; i < a->size(); ++i)
          if (auto v = read_choice(c_, *a->get(i), fmt::format("{}[{}]", f.key("ladder"), i), kRungs))
            d.ladder.push_back(*v);
      }
    }
    if (auto v = f.num("investment_subsidy_step", in(0, 1))) d.investment_subsidy_step = *v;
    if (auto v = f.num("production_subsidy_step", in(0, 1))) d.production_subsidy_step = *v;
    if (auto v = f.num("floor_premium", ge(0))) d.floor_premium = *v;
    if (auto v = f.num("floor_volume", in(0, 1))) d.floor_volume = *v;
    if (auto v = f.integer("floor_months", ge(1))) d.floor_months = *v;
    if (auto v = f.num("equity_step", in(0, 1))) d.equity_step = *v;
    if (auto v = f.num("tariff_step", ge(0))) d.tariff_step = *v;
    if (auto v = f.num("mandate_step", in(0, 1))) d.mandate_step = *v;
    if (auto v = f.boolean("thwart")) d.thwart = *v;
    if (auto v = f.num("thwart_margin", in(0, 1, false, true))) d.thwart_margin = *v;
    if (auto v = f.num("thwart_theta_step", ge(0))) d.thwart_theta_step = *v;
    f.finish();
  }

  void agreement(Fields& top) {
    const toml::table* t = table_at(top, "agreement", false);
    for (const auto& [region, node] : reciprocal_rules_) {
      const bool party = t && region != kNone && string_at(*t, "west") && string_at(*t, "china") &&
                         (*string_at(*t, "west") == s_.regions[region].id ||
                          *string_at(*t, "china") == s_.regions[region].id);
      if (!party)
        c_.add(*node, fmt::format("government.{}.rule", region == kNone ? "?" : s_.regions[region].id),
               "rule = \"reciprocal\" needs an [agreement] naming this region as `west` or `china`");
    }
    if (!t) return;
    Fields f(c_, *t, "agreement");
    AgreementSpec& a = s_.agreement;
    a.present = true;
    a.west = region_ref(f, "west");
    a.china = region_ref(f, "china");
    if (a.west != kNone && s_.regions[a.west].bloc != Bloc::west)
      c_.add(*t->get("west"), f.key("west"), "must be a region of the west bloc");
    if (a.china != kNone && s_.regions[a.china].bloc != Bloc::china)
      c_.add(*t->get("china"), f.key("china"), "must be a region of the china bloc");
    a.west_goods = id_list(f, "west_goods", good_ids_, "good", true);
    a.china_goods = id_list(f, "china_goods", good_ids_, "good", true);
    if (auto v = f.num("target", in(0, 1, true, false))) a.target = *v;
    if (auto v = f.num("hhi_target", in(0, 10000))) a.hhi_target = *v;
    if (auto v = period_of(f, "start", false)) a.start = *v;
    if (auto v = f.num("sustain_level", in(0, 1))) a.sustain_level = *v;
    if (auto v = f.integer("breach_months", ge(1))) a.breach_months = *v;
    if (auto v = f.num("monitor_tolerance", in(0, 1))) a.monitor_tolerance = *v;
    f.finish();
    // Both parties must govern by the agreement.
    for (Index party : {a.west, a.china}) {
      if (party == kNone) continue;
      bool reciprocal = false;
      for (const auto& g : s_.governments) reciprocal |= g.region == party && g.rule == Rule::reciprocal;
      if (!reciprocal)
        c_.add(*t, f.key(party == a.west ? "west" : "china"),
               fmt::format("the government of '{}' must have rule = \"reciprocal\"", s_.regions[party].id));
    }
  }

  std::vector<std::pair<Index, const toml::node*>> reciprocal_rules_;

  static const std::string* string_at_node(const toml::node& n) {
    auto s = n.as_string();
    return s ? &s->get() : nullptr;
  }

  // Registers the id of an entry: valid, unique. Returns the id text if valid.
  std::optional<std::string> entry_id(Fields& f, std::unordered_map<std::string, Pos>& seen, IdMap* ids,
                                      Index index) {
    auto id = f.str("id", true);
    if (!id) return std::nullopt;
    const toml::node& n = *f.table().get("id");
    if (!valid_id(*id)) {
      c_.add(n, f.key("id"),
             fmt::format("invalid id '{}': must be non-empty, without '.', '=' or whitespace", *id));
      return std::nullopt;
    }
    auto [it, fresh] = seen.emplace(*id, c_.pos(n));
    if (!fresh) {
      c_.add(n, f.key("id"), fmt::format("duplicate id '{}' (first at {})", *id, it->second.text()));
      return std::nullopt;
    }
    if (ids) ids->emplace(*id, index);
    return id;
  }

  // `at`/`first_period`: an integer period or "YYYY-MM" relative to run.start.
  std::optional<int> period_of(Fields& f, std::string_view k, bool required) {
    const toml::node* n = f.node(k, required);
    if (!n) return std::nullopt;
    if (auto i = n->as_integer()) {
      if (i->get() < 0) {
        c_.add(*n, f.key(k), fmt::format("must be >= 0 (got {})", i->get()));
        return std::nullopt;
      }
      if (i->get() > INT_MAX) {
        c_.add(*n, f.key(k), fmt::format("must be <= {} (got {})", INT_MAX, i->get()));
        return std::nullopt;
      }
      return static_cast<int>(i->get());
    }
    if (auto s = n->as_string()) {
      int y = 0, m = 0;
      if (!parse_year_month(s->get(), y, m)) {
        c_.add(*n, f.key(k), fmt::format("expected \"YYYY-MM\" with month 01-12 (got '{}')", s->get()));
        return std::nullopt;
      }
      if (!start_ok_) return std::nullopt;  // run.start is reported already
      const int p = (y * 12 + m - 1) - (s_.run.start_year * 12 + s_.run.start_month - 1);
      if (p < 0) {
        c_.add(*n, f.key(k), fmt::format("'{}' is before run.start '{}'", s->get(), s_.run.start));
        return std::nullopt;
      }
      return p;
    }
    c_.add(*n, f.key(k), fmt::format("expected an integer period or \"YYYY-MM\", got {}", type_name(*n)));
    return std::nullopt;
  }

  // ---- sections

  void run(Fields& top) {
    const toml::table* t = table_at(top, "run", true);
    if (!t) return;
    Fields f(c_, *t, "run");
    RunSpec& r = s_.run;
    if (auto v = f.str("scenario", true)) r.scenario = *v;
    if (auto v = f.integer("periods", ge(1), true)) {
      r.periods = *v;
      periods_ok_ = true;
    }
    if (const toml::node* n = f.node("seed", true)) {
      if (auto v = read_integer(c_, *n, "run.seed", ge(0), std::numeric_limits<std::int64_t>::max()))
        r.seed = static_cast<std::uint64_t>(*v);
    }
    if (auto v = f.str("start", true)) {
      if (parse_year_month(*v, r.start_year, r.start_month)) {
        r.start = *v;
        start_ok_ = true;
      } else {
        c_.add(*t->get("start"), "run.start", fmt::format("expected \"YYYY-MM\" with month 01-12 (got '{}')", *v));
      }
    }
    if (auto v = f.integer("burn_in", ge(0))) r.burn_in = *v;
    f.finish();
  }

  void behaviour(Fields& top) {
    const toml::table* t = table_at(top, "behaviour", false);
    if (!t) return;
    Fields f(c_, *t, "behaviour");
    BehaviourSpec& b = s_.behaviour;
    if (auto v = f.num("adjustment", in(0, 1, true, false))) b.adjustment = *v;
    if (auto v = f.num("price_expectation", in(0, 1, true, false))) b.price_expectation = *v;
    if (auto v = f.num("demand_window", in(0, 1, true, true))) b.demand_window = *v;
    if (auto v = f.num("inventory_cover", ge(0))) b.inventory_cover = *v;
    if (auto v = f.integer("exit_after", ge(1))) b.exit_after = *v;
    if (auto v = f.num("uncertainty_premium", ge(0))) b.uncertainty_premium = *v;
    if (auto v = f.num("investment_rate", in(0, 1))) b.investment_rate = *v;
    if (auto v = f.num("bid_spread", in(0, 1, false, true))) b.bid_spread = *v;
    if (auto v = f.num("max_price_rise", gt(0))) b.max_price_rise = *v;
    if (auto v = f.num("restock_markup", ge(0))) b.restock_markup = *v;
    f.finish();
  }

  void output(Fields& top) {
    const toml::table* t = table_at(top, "output", false);
    if (!t) return;
    Fields f(c_, *t, "output");
    OutputSpec& o = s_.output;
    if (auto v = f.boolean("market")) o.market = *v;
    if (auto v = f.boolean("trade")) o.trade = *v;
    if (auto v = f.boolean("firm")) o.firm = *v;
    if (auto v = f.boolean("government")) o.government = *v;
    if (auto v = f.boolean("policy")) o.policy = *v;
    if (auto v = f.integer("every", ge(1))) o.every = *v;
    if (auto v = f.integer("firm_every", ge(1))) o.firm_every = *v;
    if (auto v = f.integer("trade_every", ge(1))) o.trade_every = *v;
    if (auto v = f.integer("deflate", in(0, 9))) o.deflate = *v;
    f.finish();
  }

  // [ensemble]: the design only; load_scenario checks each parameter's key by applying it.
  void ensemble(Fields& top) {
    const toml::table* t = table_at(top, "ensemble", false);
    if (!t) return;
    Fields f(c_, *t, "ensemble");
    EnsembleSpec& e = s_.ensemble;
    e.present = true;
    if (auto v = f.integer("replications", ge(1), true)) e.replications = *v;
    e.seed = s_.run.seed;
    if (const toml::node* n = f.node("seed")) {
      if (auto v = read_integer(c_, *n, "ensemble.seed", ge(0), std::numeric_limits<std::int64_t>::max()))
        e.seed = static_cast<std::uint64_t>(*v);
    }
    if (auto v = f.choice("design", kDesigns)) e.design = *v;
    std::unordered_map<std::string, Pos> seen;
    each_inline(f, "parameter", [&](Fields& p) {
      EnsembleParameter& q = e.parameters.emplace_back();
      Pos at = c_.pos(p.table());
      if (const toml::node* kn = p.table().get("key")) at = c_.pos(*kn);
      ensemble_key_pos.push_back(at);
      if (auto k = p.str("key", true)) {
        q.key = *k;
        const std::string kk = p.key("key");
        if (q.key.empty()) {
          c_.add(at, kk, "must not be empty");
        } else if (q.key == "run.seed" || q.key.starts_with("ensemble.")) {
          c_.add(at, kk, fmt::format("'{}' cannot be swept (replicates' seeds derive from ensemble.seed)", q.key));
        } else if (auto [it, fresh] = seen.emplace(q.key, at); !fresh) {
          c_.add(at, kk, fmt::format("'{}' is swept twice (first at {})", q.key, it->second.text()));
        }
      }
      const bool bounds = p.has("min") || p.has("max");
      if (const toml::node* vn = p.node("values")) {
        const std::string vk = p.key("values");
        if (bounds) c_.add(*vn, vk, "give either min and max or values, not both");
        p.node("min");  // known keys, reported above
        p.node("max");
        if (const toml::array* a = vn->as_array()) {
          if (a->empty()) c_.add(*vn, vk, "must list at least one value");
          for (std::size_t j = 0; j < a->size(); ++j)
            if (auto v = read_number(c_, *a->get(j), fmt::format("{}[{}]", vk, j), Range{})) q.values.push_back(*v);
        } else {
          c_.add(*vn, vk, fmt::format("expected an array of numbers, got {}", type_name(*vn)));
        }
      } else {
        const auto lo = p.num("min", Range{}, true);
        const auto hi = p.num("max", Range{}, true);
        if (lo) q.min = *lo;
        if (hi) q.max = *hi;
        if (lo && hi && *hi < *lo)
          c_.add(*p.table().get("max"), p.key("max"), fmt::format("must be >= min (got {} < {})", fmt_num(*hi), fmt_num(*lo)));
      }
      const bool grid_bounds = e.design == Design::grid && !p.has("values");
      if (const toml::node* pn = p.node("points", grid_bounds)) {
        if (!grid_bounds)
          c_.add(*pn, p.key("points"), "only for design = \"grid\" with min and max");
        else if (auto v = read_integer(c_, *pn, p.key("points"), ge(2)))
          q.points = static_cast<int>(*v);
      }
    });
    if (e.design == Design::sobol && e.parameters.size() > static_cast<std::size_t>(kSobolMaxDimensions))
      c_.add(*t, "ensemble.parameter", fmt::format("the sobol design has direction numbers for at most {} parameters (got {})",
                                                   kSobolMaxDimensions, e.parameters.size()));
    f.finish();
  }

  void regions(Fields& top) {
    std::unordered_map<std::string, Pos> seen;
    each_entry(top, "region", [&](std::size_t i, const toml::table* t) {
      s_.regions.emplace_back();
      if (!t) return;
      RegionSpec& r = s_.regions.back();
      Fields f(c_, *t, entry_prefix("region", i, *t, "id"));
      if (auto id = entry_id(f, seen, &region_ids_, static_cast<Index>(i))) r.id = *id;
      if (auto v = f.choice("bloc", kBlocs, true)) r.bloc = *v;
      f.finish();
    });
  }

  void goods(Fields& top) {
    // Ids first: inputs may name goods listed later.
    std::unordered_map<std::string, Pos> seen;
    std::vector<std::pair<const toml::table*, std::string>> entries;
    each_entry(top, "good", [&](std::size_t i, const toml::table* t) {
      s_.goods.emplace_back();
      entries.emplace_back(t, t ? entry_prefix("good", i, *t, "id") : std::string());
      if (!t) return;
      Fields f(c_, *t, entries.back().second);
      if (auto id = entry_id(f, seen, &good_ids_, static_cast<Index>(i))) s_.goods.back().id = *id;
    });
    // Edges for the cycle check: (input, node of the `inputs` key naming it).
    std::vector<std::vector<std::pair<Index, const toml::node*>>> edges(s_.goods.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const toml::table* t = entries[i].first;
      if (!t) continue;
      GoodSpec& g = s_.goods[i];
      Fields f(c_, *t, entries[i].second);
      f.node("id");
      if (auto v = f.str("unit", true)) g.unit = *v;
      if (const toml::table* inputs = table_at(f, "inputs", false)) {
        for (const auto& [k, v] : *inputs) {
          const std::string ks(k.str());
          const std::string key = f.key("inputs") + "." + ks;
          auto it = good_ids_.find(ks);
          if (it == good_ids_.end()) {
            c_.add(v, key, fmt::format("unknown good '{}'", ks));
            continue;
          }
          if (it->second == static_cast<Index>(i)) {
            c_.add(v, key, "a good cannot be its own input");
            continue;
          }
          auto units = read_number(c_, v, key, gt(0));
          if (!units) continue;
          g.inputs.push_back(InputCoef{it->second, *units});
          edges[i].emplace_back(it->second, &v);
        }
      }
      if (auto v = f.num("transport_cost", ge(0))) g.transport_cost = *v;
      if (auto v = f.num("progress_ratio", in(0, 1, true, false))) g.progress_ratio = *v;
      if (auto v = f.num("learning_floor", in(0, 1, true, false))) g.learning_floor = *v;
      if (auto v = f.num("inventory_cover", ge(0))) g.inventory_cover = *v;
      f.finish();
    }
    input_cycles(edges, entries);
  }

  void input_cycles(const std::vector<std::vector<std::pair<Index, const toml::node*>>>& edges,
                    const std::vector<std::pair<const toml::table*, std::string>>& entries) {
    const std::size_t n = edges.size();
    std::vector<int> color(n, 0);  // 0 white, 1 on the stack, 2 done
    std::vector<Index> path;
    std::function<void(Index)> dfs = [&](Index u) {
      color[u] = 1;
      path.push_back(u);
      for (const auto& [v, node] : edges[u]) {
        if (color[v] == 1) {
          std::string chain;
          auto from = std::find(path.begin(), path.end(), v);
          for (auto p = from; p != path.end(); ++p) chain += s_.goods[*p].id + " -> ";
          chain += s_.goods[v].id;
          c_.add(*node, entries[u].second + ".inputs." + s_.goods[v].id, fmt::format("input cycle: {}", chain));
        } else if (color[v] == 0) {
          dfs(v);
        }
      }
      path.pop_back();
      color[u] = 2;
    };
    for (std::size_t i = 0; i < n; ++i)
      if (color[i] == 0) dfs(static_cast<Index>(i));
  }

  void markets(Fields& top) {
    std::map<std::pair<Index, Index>, Pos> seen;
    each_entry(top, "market", [&](std::size_t i, const toml::table* t) {
      s_.markets.emplace_back();
      if (!t) return;
      MarketSpec& m = s_.markets.back();
      const std::string* g = string_at(*t, "good");
      const std::string* r = string_at(*t, "region");
      Fields f(c_, *t, g && r ? fmt::format("market.{}@{}", *g, *r) : fmt::format("market[{}]", i));
      m.good = good_ref(f, "good");
      m.region = region_ref(f, "region");
      if (const toml::table* d = table_at(f, "demand", true)) {
        Fields df(c_, *d, f.key("demand"));
        if (auto v = df.num("a", gt(0), true)) m.a = *v;
        if (d->contains("elasticity")) {
          // Constant elasticity through (price, quantity), nothing bought from the choke a on.
          if (auto v = df.num("elasticity", gt(0), true)) m.elasticity = *v;
          if (auto v = df.num("price", gt(0), true)) m.price = *v;
          if (auto v = df.num("quantity", gt(0), true)) m.quantity = *v;
          if (m.price > 0.0 && m.a > 0.0 && m.price >= m.a)
            c_.add(*d, df.key("price"), fmt::format("must be below the choke price a = {} (got {})", m.a, m.price));
          df.finish({"b"}, "not used by isoelastic demand (give a, elasticity, price, quantity)");
        } else {
          if (auto v = df.num("b", gt(0), true)) m.b = *v;
          df.finish();
        }
      }
      if (m.good != kNone && m.region != kNone) {
        auto [it, fresh] = seen.emplace(std::make_pair(m.good, m.region), c_.pos(*t));
        if (!fresh)
          c_.add(*t, f.prefix(), fmt::format("duplicate market '{}@{}' (first at {})", *g, *r, it->second.text()));
      }
      f.finish();
    });
  }

  void routes(Fields& top) {
    std::map<std::tuple<Index, Index, Index>, Pos> seen;
    each_entry(top, "route", [&](std::size_t i, const toml::table* t) {
      s_.routes.emplace_back();
      if (!t) return;
      RouteSpec& r = s_.routes.back();
      Fields f(c_, *t, fmt::format("route[{}]", i));
      r.origin = region_ref(f, "origin");
      r.destination = region_ref(f, "destination");
      const bool has_good = f.has("good");
      r.good = good_ref(f, "good", false);
      if (auto v = f.num("cost", ge(0), true)) r.cost = *v;
      if (r.origin != kNone && r.destination != kNone && (!has_good || r.good != kNone)) {
        auto [it, fresh] = seen.emplace(std::make_tuple(r.origin, r.destination, r.good), c_.pos(*t));
        if (!fresh)
          c_.add(*t, f.prefix(), fmt::format("duplicate route (first at {})", it->second.text()));
      }
      f.finish();
    });
  }

  void firms(Fields& top) {
    each_entry(top, "firm", [&](std::size_t i, const toml::table* t) {
      s_.firms.emplace_back();
      if (!t) return;
      FirmSpec& fs = s_.firms.back();
      Fields f(c_, *t, entry_prefix("firm", i, *t, "id"));
      if (auto id = entry_id(f, firm_seen_, &firm_ids_, static_cast<Index>(i))) fs.id = *id;
      fs.region = region_ref(f, "region");
      fs.good = good_ref(f, "good");
      auto kind = f.choice("kind", kKinds, true);
      if (kind) fs.kind = *kind;
      if (auto v = f.num("marginal_cost", ge(0), true)) fs.marginal_cost = *v;
      if (auto v = f.num("cost_slope", ge(0))) fs.cost_slope = *v;
      if (auto v = f.num("capacity", ge(0), true)) fs.capacity = *v;
      if (auto v = f.num("fixed_cost", ge(0))) fs.fixed_cost = *v;
      for (std::string_view k : {"output_weight", "welfare_weight"}) {
        if (kind && *kind == FirmKind::western && f.has(k)) {
          f.node(k);
          c_.add(*t->get(k), f.key(k), "only allowed for kind = \"soe\"");
          continue;
        }
        if (k == "output_weight") {
          if (auto v = f.num(k, ge(0))) fs.output_weight = *v;
        } else {
          if (auto v = f.num(k, in(0, 1))) fs.welfare_weight = *v;
        }
      }
      fs.sells_to = region_list(f, "sells_to", true);
      if (auto v = f.boolean("price_taking")) {
        if (*v && kind && *kind != FirmKind::western)
          c_.add(*t->get("price_taking"), f.key("price_taking"), "only allowed for kind = \"western\"");
        else
          fs.price_taking = *v;
      }
      f.finish();
    });
  }

  void pools(Fields& top) {
    std::unordered_map<std::string, Pos> seen;
    each_entry(top, "entrant_pool", [&](std::size_t i, const toml::table* t) {
      s_.entrant_pools.emplace_back();
      if (!t) return;
      EntrantPoolSpec& p = s_.entrant_pools.back();
      Fields f(c_, *t, entry_prefix("entrant_pool", i, *t, "id"));
      if (auto id = entry_id(f, seen, nullptr, static_cast<Index>(i))) {
        p.id = *id;
        if (auto it = firm_seen_.find(*id); it != firm_seen_.end())
          c_.add(*t->get("id"), f.key("id"),
                 fmt::format("id '{}' is already used by a firm (at {})", *id, it->second.text()));
      }
      p.good = good_ref(f, "good");
      p.region = region_ref(f, "region");
      if (auto v = f.choice("kind", kKinds, true)) p.kind = *v;
      if (auto v = f.integer("candidates", ge(1))) p.candidates = *v;
      if (auto v = f.num("capex", ge(0), true)) p.capex = *v;
      if (auto v = f.num("capacity", gt(0), true)) p.capacity = *v;
      if (auto v = f.num("marginal_cost", ge(0), true)) p.marginal_cost = *v;
      if (auto v = f.num("cost_sigma", ge(0))) p.cost_sigma = *v;
      if (auto v = f.num("capex_sigma", ge(0))) p.capex_sigma = *v;
      if (auto v = f.num("fixed_cost", ge(0))) p.fixed_cost = *v;
      if (auto v = f.integer("build_lag", ge(0))) p.build_lag = *v;
      if (auto v = f.num("hurdle_rate", ge(0))) p.hurdle_rate = *v;
      if (auto v = f.integer("lifetime", ge(1))) p.lifetime = *v;
      if (auto v = period_of(f, "first_period", false)) p.first_period = *v;
      p.sells_to = region_list(f, "sells_to", true);
      f.finish();
    });
  }

  // ---- synthetic worlds: [[region_group]] and [[firm_group]] (docs/CONFIG.md)

  // A number (constant) or { dist = "constant", value } | { dist = "uniform", low, high } |
  // { dist = "lognormal", median, sigma }. Every value it can take must lie in `r`.
  std::optional<Distribution> distribution(const toml::node& n, const std::string& key, Range r) {
    using K = Distribution::Kind;
    if (n.is_number()) {
      auto v = read_number(c_, n, key, r);
      if (!v) return std::nullopt;
      return Distribution{K::constant, *v, 0.0};
    }
    if (!n.is_table()) {
      c_.add(n, key, fmt::format("expected a number or a distribution table (dist = \"constant\" | \"uniform\" | "
                                 "\"lognormal\"), got {}", type_name(n)));
      return std::nullopt;
    }
    static const Choices<K> kDists = {{"constant", K::constant}, {"uniform", K::uniform}, {"lognormal", K::lognormal}};
    static const std::map<K, std::vector<std::string>> kParams = {
        {K::constant, {"value"}}, {K::uniform, {"low", "high"}}, {K::lognormal, {"median", "sigma"}}};
    const toml::table& t = *n.as_table();
    Fields f(c_, t, key);
    auto kind = f.choice("dist", kDists, true);
    if (!kind) {  // cannot tell which parameters belong: accept them all
      for (const auto& [k, ps] : kParams)
        for (const auto& p : ps) f.node(p);
      f.finish();
      return std::nullopt;
    }
    Distribution d;
    d.kind = *kind;
    bool ok = true;
    switch (*kind) {
      case K::constant:
        if (auto v = f.num("value", r, true)) d.p1 = *v; else ok = false;
        break;
      case K::uniform: {
        auto lo = f.num("low", r, true);
        auto hi = f.num("high", r, true);
        if (lo && hi && *hi < *lo) {
          c_.add(*t.get("high"), f.key("high"), fmt::format("must be >= low = {} (got {})", fmt_num(*lo), fmt_num(*hi)));
          ok = false;
        }
        if (lo && hi) d.p1 = *lo, d.p2 = *hi; else ok = false;
        break;
      }
      case K::lognormal: {
        // Lognormal values are > 0: only ranges without an upper bound admit them.
        auto med = f.num("median", gt(std::max(0.0, r.lo)), true);
        auto sig = f.num("sigma", ge(0), true);
        if (med && sig) d.p1 = *med, d.p2 = *sig; else ok = false;
        if (std::isfinite(r.hi)) {
          c_.add(t, f.key("dist"), fmt::format("lognormal is not allowed here: values must be {}", r.text()));
          ok = false;
        }
        break;
      }
    }
    std::set<std::string> not_used;
    for (const auto& [k, ps] : kParams)
      if (k != *kind)
        for (const auto& p : ps)
          if (t.contains(p)) not_used.insert(p), f.node(p);
    f.finish(not_used, fmt::format("not used by dist = \"{}\"", std::get<0>(*std::find_if(
        kDists.begin(), kDists.end(), [&](const auto& c) { return c.second == *kind; }))));
    if (!ok) return std::nullopt;
    return d;
  }
  std::optional<Distribution> distribution_at(Fields& f, std::string_view k, Range r, bool required) {
    const toml::node* n = f.node(k, required);
    return n ? distribution(*n, f.key(k), r) : std::nullopt;
  }

  // `seed` of a group: an integer >= 0, default run.seed.
  std::uint64_t group_seed(Fields& f, bool& ok) {
    const toml::node* n = f.node("seed");
    if (!n) return s_.run.seed;
    auto v = read_integer(c_, *n, f.key("seed"), ge(0), std::numeric_limits<std::int64_t>::max());
    if (!v) ok = false;
    return v ? static_cast<std::uint64_t>(*v) : 0;
  }

  struct RegionGroupSource {
    Pos at;                       // the entry, for problems of what it generates
    const toml::node* markets = nullptr;
  };
  std::vector<RegionGroupSource> region_group_src_;

  // [[region_group]]: parsed, then its regions are generated and registered like listed ones
  // (so every later reference may name them). Its markets are added by group_markets().
  void region_groups(Fields& top) {
    std::unordered_map<std::string, Pos> seen;
    std::int64_t ordinal = 0;
    each_entry(top, "region_group", [&](std::size_t i, const toml::table* t) {
      if (!t) return;
      RegionGroupSpec g;
      Fields f(c_, *t, entry_prefix("region_group", i, *t, "id"));
      bool ok = true;
      if (auto id = entry_id(f, seen, nullptr, static_cast<Index>(i))) g.id = *id; else ok = false;
      g.prefix = g.id;
      if (auto v = f.str("prefix")) {
        if (valid_id(*v)) {
          g.prefix = *v;
        } else {
          c_.add(*t->get("prefix"), f.key("prefix"),
                 fmt::format("invalid prefix '{}': must be non-empty, without '.', '=' or whitespace", *v));
          ok = false;
        }
      } else if (f.has("prefix")) {
        ok = false;
      }
      if (auto v = f.integer("count", in(1, 100000), true)) g.count = *v; else ok = false;
      g.seed = group_seed(f, ok);
      if (const toml::table* b = table_at(f, "blocs", true)) {
        Fields bf(c_, *b, f.key("blocs"));
        double sum = 0.0;
        for (const auto& [name, bloc] : kBlocs) {
          if (auto v = bf.num(name, in(0, 1))) g.bloc_share[static_cast<int>(bloc)] = *v; else if (bf.has(name)) ok = false;
          sum += g.bloc_share[static_cast<int>(bloc)];
        }
        bf.finish();
        if (ok && std::abs(sum - 1.0) > 1e-9) {
          c_.add(*b, f.key("blocs"), fmt::format("shares must sum to 1 (got {})", fmt_num(sum)));
          ok = false;
        }
      } else {
        ok = false;
      }
      RegionGroupSource src{c_.pos(*t), nullptr};
      if (const toml::table* m = table_at(f, "markets", false)) {
        src.markets = t->get("markets");
        for (const auto& [k, v] : *m) {
          const std::string ks(k.str());
          const std::string key = f.key("markets") + "." + ks;
          auto it = good_ids_.find(ks);
          if (it == good_ids_.end()) {
            c_.add(v, key, fmt::format("unknown good '{}'", ks));
            ok = false;
            continue;
          }
          if (!v.is_table()) {
            c_.add(v, key, fmt::format("expected a table {{ a = ..., b = ... }}, got {}", type_name(v)));
            ok = false;
            continue;
          }
          Fields mf(c_, *v.as_table(), key);
          GroupMarketSpec gm;
          gm.good = it->second;
          auto a = distribution_at(mf, "a", gt(0), true);
          auto bb = distribution_at(mf, "b", gt(0), true);
          mf.finish();
          if (!a || !bb) {
            ok = false;
            continue;
          }
          gm.a = *a;
          gm.b = *bb;
          g.markets.push_back(gm);
        }
      } else if (f.has("markets")) {
        ok = false;
      }
      f.finish();
      if (!ok) return;
      g.first_region = static_cast<Index>(s_.regions.size());
      g.first_ordinal = ordinal;
      ordinal += g.count;
      const toml::node& at = t->contains("prefix") ? *t->get("prefix") : *t->get("id");
      for (auto& r : generate_regions(g)) {
        const auto index = static_cast<Index>(s_.regions.size());
        if (!region_ids_.emplace(r.id, index).second) {
          c_.add(at, f.key(t->contains("prefix") ? "prefix" : "id"),
                 fmt::format("generated region id '{}' is already used by another region", r.id));
          return;
        }
        s_.regions.push_back(std::move(r));
      }
      s_.region_groups.push_back(std::move(g));
      region_group_src_.push_back(src);
    });
  }

  // The region groups' markets, after the listed ones; a (good, region) may not be both.
  void group_markets() {
    std::set<std::pair<Index, Index>> listed;
    for (const auto& m : s_.markets) listed.insert({m.good, m.region});
    for (std::size_t i = 0; i < s_.region_groups.size(); ++i) {
      auto& g = s_.region_groups[i];
      g.first_market = s_.markets.size();
      for (const auto& m : generate_markets(g, g.first_region)) {
        if (listed.count({m.good, m.region})) {
          const auto& src = region_group_src_[i];
          c_.add(src.markets ? c_.pos(*src.markets) : src.at, fmt::format("region_group.{}.markets", g.id),
                 fmt::format("market '{}@{}' is also a listed [[market]]", s_.goods[m.good].id, s_.regions[m.region].id));
          continue;
        }
        s_.markets.push_back(m);
      }
    }
  }

  // [[firm_group]]: parsed and checked; its firms are drawn when the world is built.
  void firm_groups(Fields& top) {
    std::unordered_map<std::string, Pos> seen;
    std::int64_t ordinal = 0, links = 0;
    std::int64_t firms = static_cast<std::int64_t>(s_.firms.size());
    for (const auto& p : s_.entrant_pools) firms += p.candidates;
    std::set<std::pair<Index, Index>> has_market;
    for (const auto& m : s_.markets) has_market.insert({m.good, m.region});
    each_entry(top, "firm_group", [&](std::size_t i, const toml::table* t) {
      if (!t) return;
      FirmGroupSpec g;
      Fields f(c_, *t, entry_prefix("firm_group", i, *t, "id"));
      bool ok = true;
      if (auto id = entry_id(f, seen, nullptr, static_cast<Index>(i))) {
        g.id = *id;
        // Its names "<id>-<digits>" must not be listed firm ids.
        for (const auto& [fid, pos] : firm_seen_) {
          const std::string_view rest = std::string_view(fid).substr(std::min(fid.size(), id->size() + 1));
          if (fid.size() > id->size() + 1 && fid.compare(0, id->size() + 1, *id + "-") == 0 &&
              std::all_of(rest.begin(), rest.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
            c_.add(*t->get("id"), f.key("id"),
                   fmt::format("its firm names '{}-N' would clash with firm '{}' (at {})", *id, fid, pos.text()));
            ok = false;
          }
        }
      } else {
        ok = false;
      }
      g.good = good_ref(f, "good");
      if (g.good == kNone) ok = false;
      if (const toml::node* n = f.node("count", true)) {
        if (auto v = read_integer(c_, *n, f.key("count"), ge(1), INT_MAX)) g.count = *v; else ok = false;
      } else {
        ok = false;
      }
      g.seed = group_seed(f, ok);

      // Possible homes: a region group (by id) or a list of region ids; default the only group.
      const toml::node* rn = f.node("regions");
      if (rn && rn->is_string()) {
        const std::string& gid = rn->as_string()->get();
        auto it = std::find_if(s_.region_groups.begin(), s_.region_groups.end(),
                               [&](const RegionGroupSpec& rg) { return rg.id == gid; });
        if (it == s_.region_groups.end()) {
          c_.add(*rn, f.key("regions"), fmt::format("unknown region_group '{}'", gid));
          ok = false;
        } else {
          for (int k = 0; k < it->count; ++k) g.homes.push_back(it->first_region + k);
        }
      } else if (rn && rn->is_array()) {
        g.homes = region_list(f, "regions", true);
        if (g.homes.empty()) ok = false;
        std::sort(g.homes.begin(), g.homes.end());
      } else if (rn) {
        c_.add(*rn, f.key("regions"),
               fmt::format("expected a region_group id or an array of region ids, got {}", type_name(*rn)));
        ok = false;
      } else if (s_.region_groups.size() == 1) {
        const auto& rg = s_.region_groups.front();
        for (int k = 0; k < rg.count; ++k) g.homes.push_back(rg.first_region + k);
      } else {
        c_.add(*t, f.key("regions"),
               fmt::format("required key missing (there are {} region groups, so no default)", s_.region_groups.size()));
        ok = false;
      }
      const toml::node* blocs_node = f.node("blocs");
      if (blocs_node) {
        const toml::array* a = blocs_node->as_array();
        if (!a || a->empty()) {
          c_.add(*blocs_node, f.key("blocs"), "expected a non-empty array of bloc names");
          ok = false;
        } else {
          bool keep[kBlocCount] = {false, false, false};
          for (std::size_t j = 0; j < a->size(); ++j) {
            const std::string key = fmt::format("{}[{}]", f.key("blocs"), j);
            if (auto b = read_choice(c_, *a->get(j), key, kBlocs)) {
              if (keep[static_cast<int>(*b)]) {
                c_.add(*a->get(j), key, fmt::format("duplicate bloc '{}'", to_string(*b)));
                ok = false;
              }
              keep[static_cast<int>(*b)] = true;
            } else {
              ok = false;
            }
          }
          std::erase_if(g.homes, [&](Index r) { return !keep[static_cast<int>(s_.regions[r].bloc)]; });
          if (ok && g.homes.empty()) {
            c_.add(*blocs_node, f.key("blocs"), "no possible home region is in these blocs");
            ok = false;
          }
        }
      }
      if (auto v = f.num("soe_share", in(0, 1))) g.soe_share = *v; else if (f.has("soe_share")) ok = false;
      auto need = [&](std::optional<Distribution> d, Distribution& into) {
        if (d) into = *d; else ok = false;
      };
      need(distribution_at(f, "marginal_cost", ge(0), true), g.marginal_cost);
      need(distribution_at(f, "capacity", ge(0), true), g.capacity);
      if (f.has("cost_slope")) need(distribution_at(f, "cost_slope", ge(0), false), g.cost_slope); else f.node("cost_slope");
      if (f.has("fixed_cost")) need(distribution_at(f, "fixed_cost", ge(0), false), g.fixed_cost); else f.node("fixed_cost");
      if (f.has("output_weight")) {
        if (g.soe_share <= 0.0) {
          f.node("output_weight");
          c_.add(*t->get("output_weight"), f.key("output_weight"), "only used with soe_share > 0");
          ok = false;
        } else {
          g.output_weight = distribution_at(f, "output_weight", ge(0), false);
          if (!g.output_weight) ok = false;
        }
      }
      if (const toml::node* dn = f.node("destinations")) {
        const std::string key = f.key("destinations");
        const Range r = in(1, kMaxSyntheticDestinations);
        if (dn->is_integer()) {
          if (auto v = read_integer(c_, *dn, key, r)) g.destinations_min = g.destinations_max = static_cast<int>(*v); else ok = false;
        } else if (const toml::table* dt = dn->as_table()) {
          Fields df(c_, *dt, key);
          auto lo = df.integer("min", r, true);
          auto hi = df.integer("max", r, true);
          df.finish();
          if (lo && hi && *hi < *lo) {
            c_.add(*dt->get("max"), df.key("max"), fmt::format("must be >= min = {} (got {})", *lo, *hi));
            ok = false;
          } else if (lo && hi) {
            g.destinations_min = *lo;
            g.destinations_max = *hi;
          } else {
            ok = false;
          }
        } else {
          c_.add(*dn, key, fmt::format("expected an integer or a table {{ min = ..., max = ... }}, got {}", type_name(*dn)));
          ok = false;
        }
      }
      f.finish();
      if (!ok || g.homes.empty()) return;

      // What its firms need where they live: a market for their good (home is always a
      // destination) and one for each input (they buy inputs in their home region's market).
      auto check_markets = [&](Index good, const std::string& what) {
        Index first = kNone;
        std::size_t missing = 0;
        for (Index r : g.homes)
          if (!has_market.count({good, r})) {
            if (first == kNone) first = r;
            ++missing;
          }
        if (missing)
          c_.add(*t->get("good"), f.key("good"),
                 fmt::format("{}, but {} of its {} possible home regions have no market for '{}' (first: '{}')",
                             what, missing, g.homes.size(), s_.goods[good].id, s_.regions[first].id));
        return missing == 0;
      };
      if (!check_markets(g.good, "its firms sell in their home region")) ok = false;
      for (const auto& in : s_.goods[g.good].inputs)
        if (!check_markets(in.good, fmt::format("its firms buy their input '{}' in their home region", s_.goods[in.good].id)))
          ok = false;
      if (g.soe_share > 0.0 &&
          std::none_of(g.homes.begin(), g.homes.end(), [&](Index r) { return s_.regions[r].bloc == Bloc::china; })) {
        c_.add(*t->get("soe_share"), f.key("soe_share"),
               "SOEs are drawn only in the china bloc, but none of its possible home regions is in it");
        ok = false;
      }
      firms += g.count;
      links += g.count * g.destinations_max;
      if (firms > INT_MAX || links > INT_MAX) {
        c_.add(*t->get("count"), f.key("count"),
               fmt::format("too many firms or links in all (at most {} of each)", INT_MAX));
        ok = false;
      }
      if (!ok) return;
      g.first_ordinal = ordinal;
      ordinal += g.count;
      s_.firm_groups.push_back(std::move(g));
    });
  }

  // A partner/exporter that must not be the government's own region.
  Index foreign_region(Fields& f, std::string_view k, Index own, bool required = true) {
    const Index r = region_ref(f, k, required);
    if (r != kNone && r == own) {
      c_.add(*f.table().get(k), f.key(k),
             fmt::format("must not be the government's own region '{}'", s_.regions[own].id));
      return kNone;
    }
    return r;
  }

  // limit_price: a number > 0 or "auto".
  std::optional<double> limit_price(Fields& f, bool& ok) {
    ok = true;
    const toml::node* n = f.node("limit_price");
    if (!n) return std::nullopt;
    if (auto s = n->as_string()) {
      if (s->get() == "auto") return std::nullopt;
      c_.add(*n, f.key("limit_price"), fmt::format("expected a number > 0 or \"auto\" (got '{}')", s->get()));
      ok = false;
      return std::nullopt;
    }
    auto v = read_number(c_, *n, f.key("limit_price"), gt(0));
    if (!v) ok = false;
    return v;
  }

  void governments(Fields& top) {
    std::map<Index, Pos> seen;
    each_entry(top, "government", [&](std::size_t i, const toml::table* t) {
      s_.governments.emplace_back();
      if (!t) return;
      GovernmentSpec& g = s_.governments.back();
      Fields f(c_, *t, entry_prefix("government", i, *t, "region"));
      g.region = region_ref(f, "region");
      if (g.region != kNone) {
        auto [it, fresh] = seen.emplace(g.region, c_.pos(*t->get("region")));
        if (!fresh)
          c_.add(*t->get("region"), f.key("region"),
                 fmt::format("duplicate government for region '{}' (first at {})", s_.regions[g.region].id,
                             it->second.text()));
      }
      if (auto v = f.choice("rule", kRules)) g.rule = *v;
      if (g.rule == Rule::reciprocal) reciprocal_rules_.push_back({g.region, t->get("rule")});
      if (auto v = f.num("output_weight", ge(0))) g.output_weight = *v;
      reactive(f, g);
      diversify(f, g);

      each_inline(f, "tariffs", [&](Fields& e) {
        TariffSpec x;
        x.good = good_ref(e, "good");
        x.exporter = foreign_region(e, "exporter", g.region);
        if (auto v = e.num("ad_valorem", ge(0))) x.ad_valorem = *v;
        if (auto v = e.num("specific", ge(0))) x.specific = *v;
        g.tariffs.push_back(x);
      });
      each_inline(f, "export_controls", [&](Fields& e) {
        ExportControlSpec x;
        x.good = good_ref(e, "good");
        x.partner = foreign_region(e, "partner", g.region);
        auto kind = e.choice("kind", kControls);
        if (kind) x.kind = *kind;
        control_args(e, kind.value_or(ControlKind::ban), !kind && e.has("kind"), x.quantity, x.approval, x.delay);
        g.export_controls.push_back(x);
      });
      each_inline(f, "production_subsidies", [&](Fields& e) {
        SubsidySpec x;
        x.good = good_ref(e, "good");
        if (auto v = e.num("rate", ge(0), true)) x.rate = *v;
        g.production_subsidies.push_back(x);
      });
      each_inline(f, "investment_subsidies", [&](Fields& e) {
        SubsidySpec x;
        x.good = good_ref(e, "good");
        if (auto v = e.num("rate", in(0, 1), true)) x.rate = *v;
        g.investment_subsidies.push_back(x);
      });
      each_inline(f, "equity_stakes", [&](Fields& e) {
        SubsidySpec x;
        x.good = good_ref(e, "good");
        if (auto v = e.num("rate", in(0, 1), true)) x.rate = *v;
        g.equity_stakes.push_back(x);
      });
      each_inline(f, "price_floors", [&](Fields& e) {
        PriceFloorSpec x;
        x.good = good_ref(e, "good");
        if (auto v = e.num("floor", gt(0), true)) x.floor = *v;
        if (auto v = e.num("volume", gt(0), true)) x.volume = *v;
        if (auto v = e.integer("months", ge(1), true)) x.months = *v;
        if (const toml::node* n = e.node("firms")) {
          if (const toml::array* a = n->as_array()) {
            for (std::size_t j = 0; j < a->size(); ++j) {
              const toml::node& fn = *a->get(j);
              const std::string key = fmt::format("{}[{}]", e.key("firms"), j);
              const Index fi = lookup(fn, key, firm_ids_, "firm");
              if (fi == kNone) continue;
              const FirmSpec& firm = s_.firms[fi];
              if (x.good != kNone && g.region != kNone && (firm.good != x.good || firm.region != g.region)) {
                c_.add(fn, key,
                       fmt::format("firm '{}' is not a firm of good '{}' in region '{}'", firm.id,
                                   s_.goods[x.good].id, s_.regions[g.region].id));
                continue;
              }
              x.firms.push_back(fi);
            }
          } else {
            c_.add(*n, e.key("firms"), fmt::format("expected an array of firm ids, got {}", type_name(*n)));
          }
        }
        g.price_floors.push_back(x);
      });
      each_inline(f, "underpricing", [&](Fields& e) {
        UnderpricingSpec x;
        x.good = good_ref(e, "good");
        x.market = region_ref(e, "market");
        bool ok = true;
        x.limit_price = limit_price(e, ok);
        (void)ok;
        if (auto v = e.num("margin", in(0, 1, false, true))) x.margin = *v;
        g.underpricing.push_back(x);
      });
      each_inline(f, "sourcing_mandates", [&](Fields& e) {
        SourcingMandateSpec x;
        x.good = good_ref(e, "good");
        if (auto v = e.num("min_allied_share", in(0, 1))) x.min_allied_share = *v;
        if (auto v = e.boolean("ban_adversary")) x.ban_adversary = *v;
        g.sourcing_mandates.push_back(x);
      });
      f.finish();
    });
  }

  // quantity (quota), approval and delay (license) of an export control.
  void control_args(Fields& e, ControlKind kind, bool kind_bad, double& quantity, double& approval, int& delay) {
    auto only = [&](std::string_view k, std::string_view which) {
      e.node(k);
      c_.add(*e.table().get(k), e.key(k), fmt::format("only used with kind = \"{}\"", which));
    };
    if (kind_bad) {  // kind is reported already; accept the keys
      e.node("quantity");
      e.node("approval");
      e.node("delay");
      return;
    }
    if (kind == ControlKind::quota) {
      if (auto v = e.num("quantity", ge(0), true)) quantity = *v;
    } else if (e.has("quantity")) {
      only("quantity", "quota");
    }
    for (std::string_view k : {"approval", "delay"}) {
      if (kind != ControlKind::license) {
        if (e.has(k)) only(k, "license");
        continue;
      }
      if (k == "approval") {
        if (auto v = e.num(k, in(0, 1))) approval = *v;
      } else {
        if (auto v = e.integer(k, ge(0))) delay = *v;
      }
    }
  }

  void events(Fields& top) {
    static const std::vector<std::string> kAll = {"at",       "government", "instrument", "good",  "partner",
                                                  "kind",     "ad_valorem", "specific",   "quantity",
                                                  "approval", "delay",      "rate",       "floor", "volume",
                                                  "months",   "limit_price", "margin",    "share",
                                                  "ban_adversary", "lift",  "cause"};
    static const std::map<Instrument, std::vector<std::string>> kUses = {
        {Instrument::tariff, {"good", "partner", "ad_valorem", "specific"}},
        {Instrument::export_control, {"good", "partner", "kind", "quantity", "approval", "delay"}},
        {Instrument::production_subsidy, {"good", "rate", "lift"}},
        {Instrument::investment_subsidy, {"good", "rate"}},
        {Instrument::equity_stake, {"good", "rate"}},
        {Instrument::output_weight, {"rate"}},
        {Instrument::price_floor, {"good", "floor", "volume", "months", "lift"}},
        {Instrument::underpricing, {"good", "partner", "limit_price", "margin", "lift"}},
        {Instrument::sourcing_mandate, {"good", "share", "ban_adversary", "lift"}},
        {Instrument::truce, {"partner", "ad_valorem"}},
    };
    std::vector<std::pair<std::size_t, EventSpec>> out;
    each_entry(top, "event", [&](std::size_t i, const toml::table* t) {
      if (!t) return;
      EventSpec ev;
      Fields f(c_, *t, fmt::format("event[{}]", i));
      const toml::node* at_node = t->get("at");
      if (auto p = period_of(f, "at", true)) {
        ev.period = *p;
        if (periods_ok_ && *p >= s_.run.periods) {
          if (at_node->is_string())
            c_.add(*at_node, f.key("at"),
                   fmt::format("'{}' is outside the run ({} to {})", at_node->as_string()->get(), s_.run.start,
                               period_label(s_.run, s_.run.periods - 1)));
          else
            c_.add(*at_node, f.key("at"),
                   fmt::format("period {} is outside the run [0, {})", *p, s_.run.periods));
        }
      }
      ev.government = region_ref(f, "government");
      f.node("cause");
      if (auto v = f.str("cause")) ev.cause = *v;
      auto inst = f.choice("instrument", kInstruments, true);
      if (!inst) {  // cannot tell which keys belong; accept the event keys
        for (const auto& k : kAll) f.node(k);
        f.finish();
        return;
      }
      ev.instrument = *inst;
      const auto& uses = kUses.at(*inst);
      auto used = [&](std::string_view k) { return std::find(uses.begin(), uses.end(), k) != uses.end(); };
      const Instrument I = *inst;
      bool lift = false;
      if (used("lift"))
        if (auto v = f.boolean("lift")) lift = ev.lift = *v;

      const bool good_required = I != Instrument::truce && I != Instrument::output_weight;
      ev.good = good_ref(f, "good", good_required);
      if (used("partner")) {
        if (I == Instrument::underpricing)
          ev.partner = region_ref(f, "partner");
        else
          ev.partner = foreign_region(f, "partner", ev.government);
      }
      switch (I) {
        case Instrument::tariff:
          if (auto v = f.num("ad_valorem", ge(0))) ev.ad_valorem = *v;
          if (auto v = f.num("specific", ge(0))) ev.specific = *v;
          if (!f.has("ad_valorem") && !f.has("specific"))
            c_.add(*t, f.key("ad_valorem"), "a tariff event needs ad_valorem or specific");
          break;
        case Instrument::export_control: {
          auto kind = f.choice("kind", kControls, true);
          if (kind) ev.kind = *kind;
          control_args(f, kind.value_or(ControlKind::ban), !kind, ev.quantity, ev.approval, ev.delay);
          break;
        }
        case Instrument::production_subsidy:
        case Instrument::output_weight:
          if (auto v = f.num("rate", ge(0), !lift)) ev.rate = *v;
          break;
        case Instrument::investment_subsidy:
        case Instrument::equity_stake:
          if (auto v = f.num("rate", in(0, 1), true)) ev.rate = *v;
          break;
        case Instrument::price_floor:
          if (auto v = f.num("floor", gt(0), !lift)) ev.floor = *v;
          if (auto v = f.num("volume", gt(0), !lift)) ev.volume = *v;
          if (auto v = f.integer("months", ge(1), !lift)) ev.months = *v;
          break;
        case Instrument::underpricing: {
          bool ok = true;
          ev.limit_price = limit_price(f, ok);
          if (auto v = f.num("margin", in(0, 1, false, true))) ev.margin = *v;
          break;
        }
        case Instrument::sourcing_mandate:
          if (auto v = f.num("share", in(0, 1))) ev.share = *v;
          if (auto v = f.boolean("ban_adversary")) ev.ban_adversary = *v;
          if (!lift && !f.has("share") && !f.has("ban_adversary"))
            c_.add(*t, f.key("share"), "a sourcing_mandate event needs share or ban_adversary");
          break;
        case Instrument::truce:
          if (auto v = f.num("ad_valorem", ge(0))) ev.ad_valorem = *v;
          break;
        case Instrument::agreement:  // not in kInstruments: rules only
          break;
      }
      std::set<std::string> not_used;
      for (const auto& k : kAll)
        if (k != "at" && k != "government" && k != "instrument" && k != "cause" && !used(k) && t->contains(k))
          not_used.insert(k);
      for (const auto& k : not_used) f.node(k);
      f.finish(not_used, fmt::format("not used by instrument '{}'", to_string(I)));
      out.emplace_back(i, ev);
    });
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second.period < b.second.period; });
    for (auto& [i, ev] : out) s_.events.push_back(std::move(ev));
  }

  Ctx& c_;
  const toml::table& root_;
  Scenario& s_;
  IdMap region_ids_, good_ids_, firm_ids_;
  std::unordered_map<std::string, Pos> firm_seen_;
  bool start_ok_ = false, periods_ok_ = false;
};

// What applying `set` ("key=value") to the scenario `doc` (its [ensemble] left out) and
// validating it reports on the override: nullopt if the key takes that value's type, else the
// problem (unknown key, wrong type, no such entry). Range problems do not count: a swept value
// outside its key's range fails only the replicates that draw it.
std::optional<std::string> probe_key(const toml::table& doc, const std::string& set) {
  toml::table copy = doc;
  copy.erase("ensemble");
  Ctx c("--set");
  Overrides(c, copy).apply(set, 1);
  if (!c.ok()) return c.problems().front().message;
  Scenario s;
  Builder(c, copy, s).build();
  for (const auto& p : c.problems())
    if (p.file == "--set" && (p.message.starts_with("unknown key") || p.message.starts_with("expected")))
      return p.message;
  return std::nullopt;
}

// A swept key must name a numeric key --set can set: tried with a float, then an integer.
void check_parameter_key(Ctx& c, const toml::table& doc, EnsembleParameter& q, const Pos& at,
                         const std::string& prefix) {
  const std::string key = prefix + ".key";
  if (q.key.empty() || q.key == "run.seed" || q.key.starts_with("ensemble.")) return;  // reported
  const auto as_float = probe_key(doc, q.key + "=0.5");
  if (as_float) {
    if (const auto as_integer = probe_key(doc, q.key + "=1")) {
      c.add(at, key, fmt::format("'{}' is not a numeric key --set can set: {}", q.key, *as_integer));
      return;
    }
    q.integer = true;
  }
  if (!q.integer) return;
  auto whole = [](double v) { return std::floor(v) == v && std::fabs(v) < 9.0e15; };
  for (double v : q.values)
    if (!whole(v)) c.add(at, prefix + ".values", fmt::format("'{}' takes integers (got {})", q.key, fmt_num(v)));
  if (q.values.empty() && (!whole(q.min) || !whole(q.max)))
    c.add(at, prefix + ".min", fmt::format("'{}' takes integers: min and max must be whole numbers (got {} and {})",
                                           q.key, fmt_num(q.min), fmt_num(q.max)));
}

}  // namespace

namespace {
// Overrides, validation and the ensemble's key checks on a loaded document.
Scenario finish_load(Ctx& c, toml::table& doc, const std::string& path, const std::vector<std::string>& overrides) {
  Overrides over(c, doc);
  for (std::size_t i = 0; i < overrides.size(); ++i) over.apply(overrides[i], static_cast<int>(i) + 1);

  Scenario s;
  Builder builder(c, doc, s);
  builder.build();
  if (!c.ok()) c.raise();
  for (std::size_t j = 0; j < s.ensemble.parameters.size(); ++j)
    check_parameter_key(c, doc, s.ensemble.parameters[j], builder.ensemble_key_pos[j],
                        fmt::format("ensemble.parameter[{}]", j));
  if (!c.ok()) c.raise();

  s.source_path = path;
  std::ostringstream os;
  os << toml::toml_formatter{doc};
  s.resolved_toml = os.str();
  return s;
}
}  // namespace

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  Ctx c(path);
  Layering layering(c);
  std::optional<toml::table> doc = layering.load(path, nullptr);
  if (!doc || !c.ok()) c.raise();
  return finish_load(c, *doc, path, overrides);
}

Scenario load_scenario_text(const std::string& text, const std::string& name) {
  Ctx c(name);
  toml::table doc;
  try {
    doc = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const Pos p = c.pos(e.source());
    c.add(Pos{name, p.line, p.column}, "syntax", std::string(e.description()));
    c.raise();
  }
  if (doc.contains("base")) {
    c.add(*doc.get("base"), "base", "a resolved configuration has no base");
    c.raise();
  }
  return finish_load(c, doc, name, {});
}

}  // namespace decouple
