// HTTP-boundary errors of the OpenAI-compatible server. Everything the server rejects is thrown
// inside as ApiError (status + OpenAI's error fields) and turned into one JSON body at the edge:
//   {"error": {"message", "type", "param", "code"}}
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace kiln::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::optional<std::string> param = std::nullopt,
           std::string type = "", std::optional<std::string> code = std::nullopt)
      : std::runtime_error(message),
        status_(status),
        param_(std::move(param)),
        type_(type.empty() ? default_type(status) : std::move(type)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::optional<std::string>& param() const { return param_; }
  const std::string& type() const { return type_; }
  const std::optional<std::string>& code() const { return code_; }

  static std::string default_type(int status);

 private:
  int status_;
  std::optional<std::string> param_;
  std::string type_;
  std::optional<std::string> code_;
};

// 400 invalid_request_error naming the offending request field.
inline ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt) {
  return ApiError(400, std::move(message), std::move(param));
}

// OpenAI's error body for `e`.
nlohmann::json error_body(const ApiError& e);
nlohmann::json error_body(int status, const std::string& message,
                          std::optional<std::string> param = std::nullopt);

}  // namespace kiln::serve
