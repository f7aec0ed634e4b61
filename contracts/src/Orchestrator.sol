// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Formation orchestrator
/// @notice Registry of staked node operators and on-chain build commitments. The console admits a node
/// agent only while its operator is active here; anyone can check that a running image is the one its
/// owner committed to.
contract Orchestrator {
    /// @notice Resources an operator offers to the network.
    struct Capacity {
        uint32 vcpu;
        uint32 memoryMb;
        uint32 diskGb;
    }

    /// @notice One operator's registration. `unbondingEndsAt` is 0 until the operator deregisters.
    struct Operator {
        bytes32 nodeKey;
        string region;
        Capacity capacity;
        string metadata;
        uint256 stake;
        uint64 registeredAt;
        uint64 unbondingEndsAt;
        bool registered;
    }

    /// @notice An owner's approval of the image digest produced for one of their builds.
    struct BuildCommitment {
        bytes32 imageDigest;
        uint64 committedAt;
    }

    /// @notice Longest accepted region string, in bytes.
    uint256 public constant MAX_REGION_LENGTH = 64;
    /// @notice Longest accepted metadata string, in bytes (bounded so a registration costs bounded gas).
    uint256 public constant MAX_METADATA_LENGTH = 1024;

    /// @notice EIP-712 type of an owner's signed commitment, relayed by someone else (the console).
    bytes32 public constant BUILD_COMMITMENT_TYPEHASH = keccak256(
        "BuildCommitment(address owner,bytes32 buildId,bytes32 imageDigest,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev Upper bound of `s` for a canonical (non-malleable) secp256k1 signature.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Stake (wei) an operator must keep bonded to be active.
    uint256 public immutable minimumStake;
    /// @notice Seconds between `deregister` and the earliest `withdraw`, during which slashing still applies.
    uint64 public immutable unbondingDelay;
    /// @notice Address allowed to slash and to hand over governance.
    address public governance;
    /// @notice Receiver of slashed stake.
    address public treasury;

    mapping(address operator => Operator) private _operators;
    mapping(bytes32 nodeKey => address operator) private _nodeKeyOperator;
    mapping(address owner => mapping(bytes32 buildId => BuildCommitment)) private _commitments;
    /// @notice Next nonce an owner's relayed commitment must carry (each signature is usable once).
    mapping(address owner => uint256) public commitNonces;

    event Registered(
        address indexed operator, bytes32 indexed nodeKey, string region, Capacity capacity, string metadata, uint256 stake
    );
    event Updated(address indexed operator, bytes32 indexed nodeKey, string region, Capacity capacity, string metadata);
    event StakeAdded(address indexed operator, uint256 amount, uint256 totalStake);
    event Deregistered(address indexed operator, uint64 unbondingEndsAt);
    event Withdrawn(address indexed operator, uint256 amount);
    event Slashed(address indexed operator, uint256 amount, uint256 remainingStake, string reason);
    event BuildCommitted(address indexed owner, bytes32 indexed buildId, bytes32 imageDigest);
    event GovernanceTransferred(address indexed previousGovernance, address indexed newGovernance);
    event TreasuryChanged(address indexed previousTreasury, address indexed newTreasury);

    error AlreadyRegistered(address operator);
    error NotRegistered(address operator);
    error InsufficientStake(uint256 stake, uint256 minimumStake);
    error ZeroNodeKey();
    error NodeKeyTaken(bytes32 nodeKey, address operator);
    error InvalidCapacity();
    error RegionTooLong(uint256 length, uint256 maxLength);
    error MetadataTooLong(uint256 length, uint256 maxLength);
    error OperatorDeregistering(address operator, uint64 unbondingEndsAt);
    error NotDeregistering(address operator);
    error UnbondingNotOver(uint64 unbondingEndsAt, uint64 nowTimestamp);
    error NotGovernance(address caller);
    error ZeroAmount();
    error SlashExceedsStake(uint256 amount, uint256 stake);
    error TransferFailed(address to, uint256 amount);
    error ZeroAddress();
    error ZeroBuildId();
    error ZeroImageDigest();
    error InvalidSignature();
    error SignatureExpired(uint256 deadline, uint256 nowTimestamp);

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    constructor(uint256 minimumStake_, uint64 unbondingDelay_, address governance_, address treasury_) {
        if (governance_ == address(0) || treasury_ == address(0)) revert ZeroAddress();
        minimumStake = minimumStake_;
        unbondingDelay = unbondingDelay_;
        governance = governance_;
        treasury = treasury_;
        emit GovernanceTransferred(address(0), governance_);
        emit TreasuryChanged(address(0), treasury_);
    }

    // ---------------------------------------------------------------- operators

    /// @notice Registers msg.sender as an operator, bonding msg.value as stake.
    function register(bytes32 nodeKey, string calldata region, Capacity calldata capacity, string calldata metadata)
        external
        payable
    {
        Operator storage op = _operators[msg.sender];
        // A record survives deregistration until its stake is withdrawn, so this also blocks re-registering
        // while unbonding (which would let an operator dodge a pending slash).
        if (op.registered) revert AlreadyRegistered(msg.sender);
        if (msg.value == 0 || msg.value < minimumStake) revert InsufficientStake(msg.value, minimumStake);
        _checkProfile(nodeKey, region, capacity, metadata);
        _nodeKeyOperator[nodeKey] = msg.sender;

        op.nodeKey = nodeKey;
        op.region = region;
        op.capacity = capacity;
        op.metadata = metadata;
        op.stake = msg.value;
        op.registeredAt = uint64(block.timestamp);
        op.unbondingEndsAt = 0;
        op.registered = true;
        emit Registered(msg.sender, nodeKey, region, capacity, metadata, msg.value);
    }

    /// @notice Replaces the node key, region, capacity and metadata of msg.sender's registration.
    function update(bytes32 nodeKey, string calldata region, Capacity calldata capacity, string calldata metadata)
        external
    {
        Operator storage op = _requireBonded(msg.sender);
        _checkProfile(nodeKey, region, capacity, metadata);
        if (op.nodeKey != nodeKey) {
            delete _nodeKeyOperator[op.nodeKey];
            _nodeKeyOperator[nodeKey] = msg.sender;
            op.nodeKey = nodeKey;
        }
        op.region = region;
        op.capacity = capacity;
        op.metadata = metadata;
        emit Updated(msg.sender, nodeKey, region, capacity, metadata);
    }

    /// @notice Adds msg.value to msg.sender's stake (for example to get back above the minimum after a slash).
    function addStake() external payable {
        Operator storage op = _requireBonded(msg.sender);
        if (msg.value == 0) revert ZeroAmount();
        op.stake += msg.value;
        emit StakeAdded(msg.sender, msg.value, op.stake);
    }

    /// @notice Starts unbonding: the operator stops being active now and may withdraw after `unbondingDelay`.
    function deregister() external {
        Operator storage op = _requireBonded(msg.sender);
        uint64 endsAt = uint64(block.timestamp) + unbondingDelay;
        op.unbondingEndsAt = endsAt;
        emit Deregistered(msg.sender, endsAt);
    }

    /// @notice Pays out the remaining stake once unbonding is over and deletes the registration.
    function withdraw() external {
        Operator storage op = _operators[msg.sender];
        if (!op.registered) revert NotRegistered(msg.sender);
        if (op.unbondingEndsAt == 0) revert NotDeregistering(msg.sender);
        if (block.timestamp < op.unbondingEndsAt) {
            revert UnbondingNotOver(op.unbondingEndsAt, uint64(block.timestamp));
        }
        uint256 amount = op.stake;
        // Effects before the interaction: the record is gone before any value leaves the contract.
        delete _nodeKeyOperator[op.nodeKey];
        delete _operators[msg.sender];
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Moves `amount` of an operator's stake to the treasury. Applies during unbonding too.
    function slash(address operator, uint256 amount, string calldata reason) external onlyGovernance {
        Operator storage op = _operators[operator];
        if (!op.registered) revert NotRegistered(operator);
        if (amount == 0) revert ZeroAmount();
        if (amount > op.stake) revert SlashExceedsStake(amount, op.stake);
        op.stake -= amount;
        emit Slashed(operator, amount, op.stake, reason);
        _send(treasury, amount);
    }

    /// @notice Hands governance to another address.
    function transferGovernance(address newGovernance) external onlyGovernance {
        if (newGovernance == address(0)) revert ZeroAddress();
        emit GovernanceTransferred(governance, newGovernance);
        governance = newGovernance;
    }

    /// @notice Changes the receiver of slashed stake.
    function setTreasury(address newTreasury) external onlyGovernance {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasuryChanged(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice True when `operator` is registered, not deregistering, and bonds at least the minimum stake.
    function isActive(address operator) public view returns (bool) {
        Operator storage op = _operators[operator];
        return op.registered && op.unbondingEndsAt == 0 && op.stake >= minimumStake && op.stake > 0;
    }

    /// @notice The full registration of `operator` (all zero when not registered).
    function getOperator(address operator) external view returns (Operator memory) {
        return _operators[operator];
    }

    /// @notice The operator that registered `nodeKey`, or the zero address.
    function operatorOfNodeKey(bytes32 nodeKey) external view returns (address) {
        return _nodeKeyOperator[nodeKey];
    }

    // ---------------------------------------------------------------- build commitments

    /// @notice Records msg.sender's approval of `imageDigest` for `buildId`; a rebuild overwrites it.
    function commitBuild(bytes32 buildId, bytes32 imageDigest) external {
        _commit(msg.sender, buildId, imageDigest);
    }

    /// @notice Records `owner`'s commitment from their EIP-712 signature, so a relayer (the console)
    /// pays the gas while the commitment still stands in the owner's name. Each signature works once.
    function commitBuildFor(
        address owner,
        bytes32 buildId,
        bytes32 imageDigest,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline, block.timestamp);
        uint256 nonce = commitNonces[owner];
        bytes32 structHash =
            keccak256(abi.encode(BUILD_COMMITMENT_TYPEHASH, owner, buildId, imageDigest, nonce, deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
        if (owner == address(0) || _recover(digest, signature) != owner) revert InvalidSignature();
        commitNonces[owner] = nonce + 1;
        _commit(owner, buildId, imageDigest);
    }

    /// @notice EIP-712 domain separator ("Formation Orchestrator", version "1", this chain, this contract).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("Formation Orchestrator"), keccak256("1"), block.chainid, address(this)
            )
        );
    }

    /// @notice The commitment `owner` made for `buildId` (zero digest when none).
    function buildCommitment(address owner, bytes32 buildId) external view returns (BuildCommitment memory) {
        return _commitments[owner][buildId];
    }

    /// @notice True when `owner`'s latest commitment for `buildId` is exactly `imageDigest`.
    function isCommitted(address owner, bytes32 buildId, bytes32 imageDigest) external view returns (bool) {
        return imageDigest != bytes32(0) && _commitments[owner][buildId].imageDigest == imageDigest;
    }

    // ---------------------------------------------------------------- internals

    function _requireBonded(address operator) private view returns (Operator storage op) {
        op = _operators[operator];
        if (!op.registered) revert NotRegistered(operator);
        if (op.unbondingEndsAt != 0) revert OperatorDeregistering(operator, op.unbondingEndsAt);
    }

    function _checkProfile(bytes32 nodeKey, string calldata region, Capacity calldata capacity, string calldata metadata)
        private
        view
    {
        if (nodeKey == bytes32(0)) revert ZeroNodeKey();
        address holder = _nodeKeyOperator[nodeKey];
        if (holder != address(0) && holder != msg.sender) revert NodeKeyTaken(nodeKey, holder);
        if (capacity.vcpu == 0 || capacity.memoryMb == 0 || capacity.diskGb == 0) revert InvalidCapacity();
        if (bytes(region).length > MAX_REGION_LENGTH) revert RegionTooLong(bytes(region).length, MAX_REGION_LENGTH);
        if (bytes(metadata).length > MAX_METADATA_LENGTH) {
            revert MetadataTooLong(bytes(metadata).length, MAX_METADATA_LENGTH);
        }
    }

    function _commit(address owner, bytes32 buildId, bytes32 imageDigest) private {
        if (buildId == bytes32(0)) revert ZeroBuildId();
        if (imageDigest == bytes32(0)) revert ZeroImageDigest();
        _commitments[owner][buildId] = BuildCommitment(imageDigest, uint64(block.timestamp));
        emit BuildCommitted(owner, buildId, imageDigest);
    }

    /// @dev ecrecover over a 65-byte (r, s, v) signature, refusing malleable high-s forms.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if (uint256(s) > HALF_CURVE_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }

    function _send(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
