// Loading a scenario: TOML (toml++) → validated plain structs (core/scenario.hpp).
// No TOML type leaves this module. Every problem is collected, with
// "file:line:column: key: what is wrong", and thrown together as one InputError.
#pragma once

#include <string>
#include <vector>

#include "core/scenario.hpp"

namespace decouple {

// `path`: the scenario file. `overrides`: "dotted.key=value" strings from --set, applied
// after `base` layering, in order. Array tables are addressed by id
// (`firm.home-1.capacity=500`, `region.US.bloc="west"`), [[market]] by "good@region"
// (`market.widget@HOME.demand.a=130`), [[government]] by region (`government.HOME.rule="none"`).
// Throws InputError listing every problem.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from a resolved configuration text (a run file's /config; no `base`). `name`
// stands for the file in messages.
Scenario load_scenario_text(const std::string& text, const std::string& name);

// Parses "YYYY-MM" into (year, month); false if malformed.
bool parse_year_month(const std::string& text, int& year, int& month);

}  // namespace decouple
