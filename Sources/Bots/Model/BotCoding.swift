// How a bot's parameters and strategy state are written as JSON: snake_case keys, sorted, so stored rows and
// API answers use the same names (API.md).

import Foundation
import Venues

public enum BotCoding {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}

extension BotParameters: Codable {
    enum CodingKeys: String, CodingKey {
        case grid
        case dca
        case signal
        case risk
    }

    /// Stored as `{"<strategy>": {…}, "risk": {…}}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let risk = try container.decodeIfPresent(RiskLimits.self, forKey: .risk) ?? RiskLimits()
        if let grid = try container.decodeIfPresent(GridParameters.self, forKey: .grid) {
            self.init(.grid(grid), risk: risk)
        } else if let dca = try container.decodeIfPresent(DCAParameters.self, forKey: .dca) {
            self.init(.dca(dca), risk: risk)
        } else if let signal = try container.decodeIfPresent(SignalParameters.self, forKey: .signal) {
            self.init(.signal(signal), risk: risk)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath, debugDescription: "no strategy parameters"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self.strategy {
        case .grid(let grid): try container.encode(grid, forKey: .grid)
        case .dca(let dca): try container.encode(dca, forKey: .dca)
        case .signal(let signal): try container.encode(signal, forKey: .signal)
        }
        try container.encode(self.risk, forKey: .risk)
    }

    /// The API's `params`: the strategy's parameters, flat, with `risk` beside them when any limit is set.
    public func apiParams() throws -> JSON.Value {
        let strategy: Data =
            switch self.strategy {
            case .grid(let grid): try BotCoding.encoder.encode(grid)
            case .dca(let dca): try BotCoding.encoder.encode(dca)
            case .signal(let signal): try BotCoding.encoder.encode(signal)
            }
        var value = try JSONDecoder().decode(JSON.Value.self, from: strategy)
        if case .object(var members) = value, self.risk != RiskLimits() {
            members["risk"] = try JSONDecoder().decode(JSON.Value.self, from: try BotCoding.encoder.encode(self.risk))
            value = .object(members)
        }
        return value
    }

    /// Parse the API's `params` for `strategy`: a 422-ready `InvalidParameters` names what is wrong.
    public static func parse(_ strategy: Strategy, _ raw: JSON.Value) throws(InvalidParameters) -> BotParameters {
        guard case .object(let members) = raw else { throw InvalidParameters("`params` must be an object.") }
        // Foundation reports a fraction where a whole number belongs as "not valid JSON", naming nothing: checked first.
        try Self.requireWholeNumbers(members, ["levels", "interval_seconds", "safety_orders"], prefix: "")
        if case .object(let risk)? = members["risk"] { try Self.requireWholeNumbers(risk, ["max_orders_per_minute"], prefix: "risk.") }
        do {
            let data = try JSONEncoder().encode(raw)
            let decoder = BotCoding.decoder
            let risk: RiskLimits =
                switch members["risk"] {
                case nil, .null?: RiskLimits()
                case .object?: try decoder.decode(RiskEnvelope.self, from: data).risk ?? RiskLimits()
                default: throw InvalidParameters(field: "risk", "must be an object")
                }
            let parameters: StrategyParameters =
                switch strategy {
                case .grid: .grid(try decoder.decode(GridParameters.self, from: data))
                case .dca: .dca(try decoder.decode(DCAParameters.self, from: data))
                case .signal: .signal(try decoder.decode(SignalParameters.self, from: data))
                }
            return BotParameters(parameters, risk: risk)
        } catch let error as InvalidParameters {
            throw error
        } catch let error as DecodingError {
            throw Self.invalid(error)
        } catch {
            throw InvalidParameters("`params` is not valid.")
        }
    }

    struct RiskEnvelope: Decodable { let risk: RiskLimits? }

    static func requireWholeNumbers(_ members: [String: JSON.Value], _ fields: [String], prefix: String) throws(InvalidParameters) {
        for field in fields {
            guard case .number(let value)? = members[field] else { continue }
            var rounded = Decimal()
            var copy = value
            NSDecimalRound(&rounded, &copy, 0, .plain)
            guard rounded == value, abs(value) <= Decimal(Int32.max) else {
                throw InvalidParameters(field: prefix + field, "must be a whole number")
            }
        }
    }

    /// A decoding error as the field it concerns, in the API's spelling.
    static func invalid(_ error: DecodingError) -> InvalidParameters {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { key in key.intValue.map(String.init) ?? snakeCase(key.stringValue) }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return InvalidParameters(field: path(context.codingPath + [key]), "is missing")
        case .valueNotFound(_, let context): return InvalidParameters(field: path(context.codingPath), "must not be null")
        case .typeMismatch(let type, let context): return InvalidParameters(field: path(context.codingPath), Self.expected(type))
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return InvalidParameters(field: path(context.codingPath), "is not a valid number")
        default: return InvalidParameters("`params` is not valid.")
        }
    }

    static func expected(_ type: Any.Type) -> String {
        if type == Int.self { return "must be a whole number" }
        if type == Decimal.self || type == Double.self { return "must be a number" }
        if type == String.self { return "must be a string" }
        return "has the wrong type"
    }

    static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase { result.append("_") }
            result.append(character.lowercased())
        }
        return result
    }
}

extension StrategyState {
    /// The stored JSON of the state (the strategy's own state value; `{}` for signal bots).
    public func encoded() throws -> String {
        let data: Data =
            switch self {
            case .grid(let grid): try BotCoding.encoder.encode(grid)
            case .dca(let dca): try BotCoding.encoder.encode(dca)
            case .signal: Data("{}".utf8)
            }
        return String(decoding: data, as: UTF8.self)
    }

    public static func decode(_ strategy: Strategy, from text: String) throws -> StrategyState {
        let data = Data(text.utf8)
        switch strategy {
        case .grid: return .grid(try BotCoding.decoder.decode(GridState.self, from: data))
        case .dca: return .dca(try BotCoding.decoder.decode(DCAState.self, from: data))
        case .signal: return .signal
        }
    }
}
