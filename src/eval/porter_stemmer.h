// The Porter stemmer as NLTK's PorterStemmer() runs it by default (mode NLTK_EXTENSIONS), which
// is what rouge_score uses for use_stemmer=True. Input: a lowercase ASCII word.
#pragma once

#include <string>
#include <string_view>

namespace kiln::eval {

std::string porter_stem(std::string_view word);

}  // namespace kiln::eval
